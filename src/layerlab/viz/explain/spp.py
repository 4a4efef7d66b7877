"""`layerlab explain spp [H W] [--channels C]`: why spatial pyramid pooling gives every region the same length.

Course unit: object detection (SPPNet). A fully connected layer needs a fixed number of inputs, but
regions come in every size. SPP divides a region's h x w window of the feature map into n x n bins
for each pyramid level n (4, 2, 1), whatever h and w are, and takes the maximum of each bin: bin i
of n along a side of length L covers [floor(i·L/n), ceil((i+1)·L/n)). Output: C·(16 + 4 + 1) = 21·C
numbers for any window. What to notice: a 13x8 window and a 3x5 one give vectors of the same length;
a window smaller than 4 cells on a side still gets 4 bins per side (some cells feed two bins).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from layerlab.errors import LayerlabError
from layerlab.models.detector import pyramid_pool
from layerlab.viz.explain.base import Explanation, parse_int, register_topic
from layerlab.viz.style import figure_style, new_figure, save_figure, tr

LEVELS = (4, 2, 1)
USAGE = "layerlab explain spp [H W] [--channels C]   (a window of H x W feature cells; default 13 8 and 3 5, C = 64)"


def bins(length: int, n: int) -> list[list[int]]:
    """The n bins [start, stop) along a side of `length` cells (adaptive max pooling's rule)."""
    return [[(i * length) // n, -(-(i + 1) * length // n)] for i in range(n)]


def spp_numbers(windows: Sequence[tuple[int, int]], channels: int) -> dict:
    out = []
    for h, w in windows:
        length = len(pyramid_pool(torch.zeros(channels, h, w), LEVELS))          # the real layer's output
        assert length == channels * sum(n * n for n in LEVELS)
        out.append({"h": h, "w": w, "length": length,
                    "levels": {f"{n}x{n}": {"rows": bins(h, n), "cols": bins(w, n)} for n in LEVELS}})
    return {"channels": channels, "levels": list(LEVELS), "windows": out}


@register_topic("spp", description="spatial pyramid pooling: any region becomes 21 x channels numbers", usage=USAGE,
                options=("channels",))
def spp(args: Sequence[str], *, out: Path, lang: str, channels: int = 64) -> Explanation:
    if args and len(args) != 2:
        raise LayerlabError(f"give a window as two whole numbers, H W (usage: {USAGE})")
    windows = [(parse_int(args[0], "H", 1), parse_int(args[1], "W", 1))] if args else [(13, 8), (3, 5)]
    if channels < 1:
        raise LayerlabError(f"--channels must be at least 1, got {channels}")
    n = spp_numbers(windows, channels)
    if out is not None:  # None: --no-figure, the numbers and the working only
        _draw(out, lang, n)
    return Explanation("spp", text_of(n, lang), n, out)


def text_of(n: dict, lang: str = "en") -> str:
    lines = []
    for win in n["windows"]:
        lines.append(tr(lang, f"window {win['h']}x{win['w']} cells:", f"창 {win['h']}x{win['w']}칸:"))
        for level, cuts in zip(LEVELS, win["levels"].values()):
            maxima = tr(lang, f"{level * level} {'maximum' if level == 1 else 'maxima'} per channel",
                        f"채널마다 최댓값 {level * level}개")
            lines.append(f"  {level}x{level}: " + tr(lang, f"rows {cuts['rows']}  cols {cuts['cols']}",
                                                     f"행 {cuts['rows']}  열 {cuts['cols']}") + f"  -> {maxima}")
        lines.append("  " + tr(lang, f"total: (16 + 4 + 1) bins x {n['channels']} channels = {win['length']:,} numbers",
                               f"합계: (16 + 4 + 1) 구간 x 채널 {n['channels']}개 = 수 {win['length']:,}개"))
    return "\n".join(lines)


def _draw(out: Path, lang: str, n: dict) -> None:
    from matplotlib.patches import Rectangle

    wins = n["windows"]
    with figure_style(lang):
        fig, axes = new_figure(len(wins), len(LEVELS), (3.4 * len(LEVELS), max(4.8, 3.2 * len(wins))))
        for r, win in enumerate(wins):
            for c, level in enumerate(LEVELS):
                ax = axes[r, c]
                cuts = win["levels"][f"{level}x{level}"]
                for i, (top, bottom) in enumerate(cuts["rows"]):
                    for j, (left, right) in enumerate(cuts["cols"]):
                        ax.add_patch(Rectangle((left, top), right - left, bottom - top, alpha=0.35, color=f"C{(i * level + j) % 10}"))
                ax.set(xlim=(0, win["w"]), ylim=(win["h"], 0), aspect="equal", xticks=range(win["w"] + 1), yticks=range(win["h"] + 1))
                ax.tick_params(labelsize=6)
                ax.grid(True, lw=0.5)
                ax.set_title(f"{win['h']}x{win['w']}: {level}x{level} bins", fontsize=9)
        title = tr(lang, f"Spatial pyramid pooling: every window -> 21 x {n['channels']} = {21 * n['channels']:,} numbers",
                   f"공간 피라미드 풀링: 어떤 창이든 21 x {n['channels']} = {21 * n['channels']:,}개의 수")
        caption = tr(lang, "Notice that the bins stretch or overlap to fit the window: the number of bins, and so the "
                     "vector's length, never depends on the window's size.", "구간(bin)이 창 크기에 맞춰 늘어나거나 겹친다는 "
                     "점에 주목하세요: 구간의 수, 즉 벡터의 길이는 창의 크기와 상관이 없습니다.")
        save_figure(fig, out, title, caption, lang)
