"""`layerlab explain TOPIC`: every course concept as numbers and a picture.

Each topic lives in its own module and registers itself with `@register_topic`; the list below
imports them by name, so the registry holds exactly these topics. `explain()` looks a topic up,
checks the options, and returns an `Explanation` (text, JSON-able numbers, the PNG written).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from layerlab.errors import LayerlabError
from layerlab.viz.explain import (  # noqa: F401
    activation, conv, lr, overfitting, padding, pool, reparam, sizes, softmax, tensor, vanishing,
)
from layerlab.viz.explain.base import TOPICS, Explanation, get_topic, register_topic
from layerlab.viz.style import check_lang

__all__ = ["TOPICS", "Explanation", "explain", "list_topics", "register_topic"]

# the order a course meets them, for `layerlab explain` with no topic
ORDER = ("tensor", "conv", "conv-size", "padding", "pool", "activation", "softmax", "lr", "overfitting",
         "vanishing-gradient", "reparameterisation")


def list_topics() -> list[tuple[str, str]]:
    """(name, one-line description) of every topic, in course order."""
    names = [n for n in ORDER if n in TOPICS] + [n for n in TOPICS.names() if n not in ORDER]
    return [(name, TOPICS.get(name).description) for name in names]


def explain(
    topic: str,
    args: Sequence[str] = (),
    *,
    out: Path | str | None = None,
    lang: str = "en",
    **options: Any,
) -> Explanation:
    """Explain one topic: compute its numbers, write its working, draw its PNG.

    `args` are the topic's positional arguments as the user typed them (e.g. conv-size's
    "7 3 2 0"); `out` is the PNG to write (default explain-<topic>.png in the current folder);
    `options` are topic options such as image=, target=, seed=.
    """
    entry = get_topic(topic)
    check_lang(lang)
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        takes = ", ".join("--" + o for o in entry.options) or "no options"
        raise LayerlabError(f"topic {topic!r} takes {takes}, not --{unknown[0]}")
    path = Path(out) if out is not None else Path.cwd() / f"explain-{topic}.png"
    if path.suffix.lower() != ".png":
        raise LayerlabError(f"--out must name a .png file, got {str(path)!r}")
    if path.is_dir():
        raise LayerlabError(f"--out {path} is a folder; give a file name ending in .png")
    path.parent.mkdir(parents=True, exist_ok=True)
    return entry.obj(list(args), out=path, lang=lang, **options)
