"""Figure helpers shared by the concept pictures: title, axis labels, a caption, Korean text.

Every figure layerlab draws has a title, labelled axes and a one-sentence caption under it that
says what to notice, in English or Korean. Korean text uses NanumGothic from the
koreanize-matplotlib package: the font file is registered from that package's folder and named
explicitly, so no system font is needed. (Importing koreanize_matplotlib itself would rewrite
matplotlib's global settings, so we only locate its files.)

matplotlib is imported inside the functions, so `import layerlab` stays fast and headless. The
figures are pyplot-free `Figure` objects: saving one needs no GUI backend and leaves nothing
open in pyplot's figure list.
"""

from __future__ import annotations

import importlib.util
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layerlab.errors import LayerlabError

if TYPE_CHECKING:  # only for annotations: matplotlib is imported lazily
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

LANGS = ("en", "ko")
# outline colours that stand out on the blue/green/orange/purple cell maps
HIGHLIGHTS = ("tab:red", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
DPI = 90  # keeps a 10-inch figure at 900 px wide and well under 200 KB
LATIN_FONT = "DejaVu Sans"  # ships inside matplotlib, so no system font is ever needed


def tr(lang: str, en: str, ko: str) -> str:
    """The English or the Korean wording of one label."""
    return ko if lang == "ko" else en


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        raise LayerlabError(f"--lang must be one of {', '.join(LANGS)}, got {lang!r}")
    return lang


def korean_font_path() -> Path:
    """NanumGothic.ttf inside the installed koreanize-matplotlib package."""
    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or spec.origin is None:
        raise LayerlabError("Korean captions need the koreanize-matplotlib package (pip install koreanize-matplotlib)")
    path = Path(spec.origin).parent / "fonts" / "NanumGothic.ttf"
    if not path.is_file():
        raise LayerlabError(f"koreanize-matplotlib is installed but {path} is missing; reinstall it")
    return path


def korean_font_name() -> str:
    """Register NanumGothic with matplotlib (once) and return its family name."""
    from matplotlib import font_manager

    path = korean_font_path()
    if not any(Path(entry.fname) == path for entry in font_manager.fontManager.ttflist):
        font_manager.fontManager.addfont(str(path))
    return font_manager.FontProperties(fname=str(path)).get_name()


@contextmanager
def figure_style(lang: str) -> Iterator[None]:
    """Font settings for drawing and saving one figure; Korean gets NanumGothic explicitly.

    For Korean the family list is [DejaVu Sans, NanumGothic]: matplotlib takes each glyph from
    the first font that has it, so Hangul comes from NanumGothic while digits, the minus sign
    and the log-axis labels (drawn by mathtext, which uses only the first font) stay in DejaVu.
    """
    import matplotlib

    family = [LATIN_FONT, korean_font_name()] if check_lang(lang) == "ko" else [LATIN_FONT]
    settings = {"font.family": family, "font.size": 9}
    with matplotlib.rc_context(settings):
        yield


def new_figure(nrows: int, ncols: int, size: tuple[float, float] = (10.0, 6.0)) -> tuple[Figure, Any]:
    """A figure with a grid of axes (always a 2-D array of them), laid out automatically."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def label(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    """Title and axis labels of one panel."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)


def label_image(ax: Axes, title: str, lang: str) -> None:
    """An image panel: its axes are pixel columns and rows (whole numbers only)."""
    from matplotlib.ticker import MaxNLocator

    label(ax, title, tr(lang, "column (pixel)", "열 (픽셀)"), tr(lang, "row (pixel)", "행 (픽셀)"))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))


def show_matrix(
    ax: Axes,
    matrix: Sequence[Sequence[float]],
    title: str,
    lang: str,
    *,
    fmt: str = "{:g}",
    cmap: str = "Blues",
    highlight: Sequence[tuple[int, int, int, int, str]] = (),
) -> None:
    """A small matrix as coloured cells with its numbers written in them.

    `highlight` draws rectangles (row, col, height, width, colour), e.g. a pooling window; they
    are drawn slightly inside their cells so that neighbouring windows stay distinguishable.
    """
    import numpy as np
    from matplotlib.patches import Rectangle

    values = np.asarray(matrix, dtype=float) + 0.0  # + 0.0 turns -0.0 (e.g. 0 times -1) into 0.0
    ax.imshow(values, cmap=cmap)  # sequential colour maps only: a high value is a dark cell
    low, spread = values.min(), max(float(values.max() - values.min()), 1e-12)
    for (r, c), v in np.ndenumerate(values):
        colour = "white" if (v - low) / spread > 0.6 else "black"
        ax.text(c, r, fmt.format(v), ha="center", va="center", fontsize=8, color=colour)
    for row, col, height, width, colour in highlight:
        inset = 0.06
        ax.add_patch(Rectangle((col - 0.5 + inset, row - 0.5 + inset), width - 2 * inset, height - 2 * inset,
                               fill=False, lw=2.5, ec=colour))
    ax.set_xticks(range(values.shape[1]))
    ax.set_yticks(range(values.shape[0]))
    label(ax, title, tr(lang, "column", "열"), tr(lang, "row", "행"))


def save_figure(fig: Figure, path: Path, title: str, caption: str, lang: str) -> Path:
    """Add the title and the caption (what to notice), write the PNG and release the figure."""
    width = 120 if lang == "en" else 72  # Hangul glyphs are about twice as wide as Latin ones
    # regular weight: DejaVu's bold is 700 and NanumGothic's 600, so "bold" would log a
    # font-substitution warning for one of them
    fig.suptitle(title, fontsize=14)
    fig.supxlabel(textwrap.fill(caption, width), fontsize=10, style="italic", color="0.2")
    path = Path(path)
    fig.savefig(path, dpi=DPI)
    fig.clear()  # a pyplot-free figure: clearing it drops every artist and its memory at once
    return path
