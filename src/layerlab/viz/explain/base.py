"""What every explain topic shares: the result type, the topic registry, argument parsing, images.

A topic is a function registered with `@register_topic` right above it:

    def topic(args: Sequence[str], *, out: Path | None, lang: str, **options) -> Explanation

It computes its numbers first (pure, tested), writes the working as text, then draws one PNG
to `out`. The text comes from the numbers alone, `text_of(numbers, lang)` in the topic's module,
so the English and the Korean working of one run hold the same numbers.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from layerlab.errors import LayerlabError
from layerlab.registry import Entry, Registry

TopicFn = Callable[..., "Explanation"]

TOPICS: Registry[TopicFn] = Registry("explain topic", plural="explain topics")


@dataclass
class Explanation:
    """One concept as numbers and a picture.

    `text` is the human-readable working, `numbers` the same facts as a JSON-able dict, and
    `figure` the PNG that was written.
    """

    topic: str
    text: str
    numbers: dict[str, Any] = field(default_factory=dict)
    figure: Path | None = None


def register_topic(
    name: str, *, description: str, usage: str, options: Sequence[str] = ()
) -> Callable[[TopicFn], TopicFn]:
    """Register a topic under the name the user types; `options` are the keyword options it takes."""
    return TOPICS.register(name, description=description, usage=usage, options=tuple(options))


def get_topic(name: str) -> Entry[TopicFn]:
    """The registered topic, or a one-line error with close matches."""
    if name not in TOPICS:
        close = difflib.get_close_matches(name, TOPICS.names(), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise LayerlabError(f"unknown explain topic {name!r}{hint} (see `layerlab explain` for the list)")
    return TOPICS.get(name)


# --- parsing the user's numbers -------------------------------------------------------------


def parse_float(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise LayerlabError(f"{what} must be a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise LayerlabError(f"{what} must be a finite number, got {text!r}")
    return value


def parse_int(text: str, what: str, minimum: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise LayerlabError(f"{what} must be a whole number, got {text!r}") from None
    if minimum is not None and value < minimum:
        raise LayerlabError(f"{what} must be >= {minimum}, got {value}")
    return value


def parse_vector(args: Sequence[str], what: str) -> list[float]:
    """Numbers given as separate arguments, comma-separated, or both ("1,2 3" -> [1, 2, 3])."""
    parts = [p for arg in args for p in re.split(r"[,\s\[\]]+", arg) if p]
    if not parts:
        raise LayerlabError(f"{what} needs at least one number")
    return [parse_float(p, what) for p in parts]


def parse_matrix(text: str, what: str) -> list[list[float]]:
    """A matrix written as rows separated by ';' or '/', numbers by ',' or spaces ("1,2;3,4").

    Python's nested-list form "[[1,2],[3,4]]" works too.
    """
    text = text.strip()
    if text.startswith("[["):
        text = re.sub(r"\]\s*,\s*\[", ";", text).strip("[] ")
    rows = [parse_vector([row], what) for row in re.split(r"[;/]", text) if row.strip()]
    if not rows or len({len(r) for r in rows}) != 1:
        widths = [len(r) for r in rows]
        raise LayerlabError(f"{what} must be rows of equal length like '1,2;3,4', got row lengths {widths}")
    return rows


def expect_at_most(args: Sequence[str], count: int, usage: str) -> None:
    if len(args) > count:
        raise LayerlabError(f"too many arguments {list(args)!r}; usage: {usage}")


# --- images ---------------------------------------------------------------------------------


def load_gray_image(image: Path | str | None, default: str = "china.jpg", max_side: int = 192) -> Any:
    """A grayscale image as a float tensor (H, W) in [0, 1], at most `max_side` pixels a side.

    Without `image`, one of scikit-learn's bundled sample photos (china.jpg, flower.jpg).
    """
    import numpy as np
    import torch
    from PIL import Image, UnidentifiedImageError

    if image is None:
        from sklearn.datasets import load_sample_image

        picture = Image.fromarray(load_sample_image(default))
    else:
        path = Path(image)
        if not path.is_file():
            raise LayerlabError(f"--image {path}: no such file")
        try:
            picture = Image.open(path)
            picture.load()
        except (UnidentifiedImageError, OSError) as err:
            raise LayerlabError(f"--image {path}: not a readable image ({type(err).__name__})") from None
    picture = picture.convert("L")
    picture.thumbnail((max_side, max_side))  # keeps the aspect ratio
    return torch.from_numpy(np.asarray(picture, dtype=np.float32) / 255.0)  # (H, W)


def format_matrix(matrix: Any, fmt: str = "{:g}") -> str:
    """Rows of a small matrix, aligned, one per line, for the text output."""
    rows = [[fmt.format(float(v) + 0.0) for v in row] for row in matrix]  # + 0.0: no "-0"
    width = max(len(cell) for row in rows for cell in row)
    return "\n".join("  [" + " ".join(cell.rjust(width) for cell in row) + "]" for row in rows)


def pad(text: str, width: int, *, right: bool = False) -> str:
    """`text` padded with spaces to `width` terminal columns: a Hangul syllable takes two columns,
    so Korean labels line up under English-width ones (str.ljust counts it as one)."""
    columns = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    fill = " " * max(width - columns, 0)
    return fill + text if right else text + fill
