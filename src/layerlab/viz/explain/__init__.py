"""`layerlab explain TOPIC`: every course concept as numbers and a picture.

Each topic lives in its own module and registers itself with `@register_topic`; MODULES below
names each topic's module, so the registry holds exactly these topics. A topic's module is
imported when it is asked for: `layerlab explain conv-size 7 3 1 0` is arithmetic and imports
neither torch nor the other topics. `explain()` looks a topic up, checks the options, and returns
an `Explanation` (text, JSON-able numbers, the PNG written).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from layerlab.errors import LayerlabError
from layerlab.viz.explain import base
from layerlab.viz.explain.base import Explanation, get_topic, register_topic
from layerlab.viz.style import check_lang

# topic -> the module (in this package) that registers it
MODULES = {"tensor": "tensor", "conv": "conv", "conv-size": "sizes", "padding": "padding", "pool": "pool",
           "activation": "activation", "softmax": "softmax", "lr": "lr", "overfitting": "overfitting",
           "vanishing-gradient": "vanishing", "gan-game": "gan",
           "convolutionalization": "convolutionalization", "transposed-conv": "transposed",
           "reparameterisation": "reparam", "iou": "iou", "nms": "nms", "spp": "spp"}


def load(topic: str | None = None) -> base.Registry:
    """Import `topic`'s module (every topic's when None or unknown, for the list and the suggestions)."""
    for module in [MODULES[topic]] if topic in MODULES else sorted(set(MODULES.values())):
        importlib.import_module(f"layerlab.viz.explain.{module}")
    return base.TOPICS


def __getattr__(name: str) -> Any:
    if name == "TOPICS":          # the full registry, its modules imported on first use
        return load()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["TOPICS", "Explanation", "explain", "list_topics", "register_topic"]

# the order a course meets them, for `layerlab explain` with no topic
ORDER = ("tensor", "conv", "conv-size", "padding", "pool", "activation", "softmax", "lr", "overfitting",
         "vanishing-gradient", "convolutionalization", "transposed-conv", "iou", "nms", "spp", "gan-game",
         "reparameterisation")


def list_topics() -> list[tuple[str, str]]:
    """(name, one-line description) of every topic, in course order."""
    topics = load()
    names = [n for n in ORDER if n in topics] + [n for n in topics.names() if n not in ORDER]
    return [(name, topics.get(name).description) for name in names]


DEFAULT_FOLDER = Path("runs") / "explain"   # beside the training runs, not loose in the current folder


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
    "7 3 2 0"); `out` is the folder of the PNG (written as <topic>.png; default runs/explain/)
    or the PNG file itself;
    `options` are topic options such as image=, target=, seed=.
    """
    load(topic)
    entry = get_topic(topic)
    check_lang(lang)
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        takes = ", ".join("--" + o for o in entry.options) or "no options"
        raise LayerlabError(f"topic {topic!r} takes {takes}, not --{unknown[0]}")
    path = Path(DEFAULT_FOLDER if out is None else out)
    if path.is_dir() or not path.suffix:   # a folder: the picture is TOPIC.png inside it
        path = path / f"{topic}.png"
    if path.suffix.lower() != ".png":
        raise LayerlabError(f"--out must name a folder or a .png file, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return entry.obj(list(args), out=path, lang=lang, **options)
