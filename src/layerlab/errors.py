"""One exception type for user mistakes, so the CLI can tell them apart from bugs."""


class LayerlabError(Exception):
    """A user-facing error: one line saying what was expected and what arrived.

    The CLI prints it as `error: …` and exits with status 2. Any other exception is a bug
    and keeps its traceback.
    """


class LayerlabWarning(UserWarning):
    """Something a user should know that does not stop the run (e.g. unreadable images left out).
    The CLI prints it as `warning: …`."""
