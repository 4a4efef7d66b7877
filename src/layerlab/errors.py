"""One exception type for user mistakes, so the CLI can tell them apart from bugs."""


class LayerlabError(Exception):
    """A user-facing error: one line saying what was expected and what arrived.

    The CLI prints it as `error: …` and exits with status 2. Any other exception is a bug
    and keeps its traceback.
    """
