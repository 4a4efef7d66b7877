"""`layerlab explain conv-size N F [S [P]]`: the output size (N - F + 2P)/S + 1, worked out.

Course note 003: a 7x7 input and a 3x3 filter give 5x5 with stride 1 and 3x3 with stride 2;
with stride 3 a border is left over, (7 - 3)/3 + 1 = 2.33 is not a whole number, and zero
padding fixes it.

What to notice: the windows start every S pixels; the size is a whole number exactly when the
last window ends on the last (padded) pixel.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from layerlab.errors import LayerlabError
from layerlab.arithmetic import conv_output_size, conv_working
from layerlab.viz.explain.base import Explanation, expect_at_most, parse_int, register_topic
from layerlab.viz.style import figure_style, label, new_figure, save_figure, tr

if TYPE_CHECKING:
    from matplotlib.axes import Axes

USAGE = "layerlab explain conv-size [N F [S [P]]]   (input size, filter size, stride=1, padding=0; default 7 3 2 0)"

# the figure's title and its caption: what to notice
TITLE = {"en": "Conv output size: {working}", "ko": "합성곱 출력 크기: {working}"}
CAPTION = {
    "en": (
        "Notice that the filter slides S pixels at a time, so the size is a whole number only when the "
        "last window ends exactly on the last pixel; padding is how you make it fit."
    ),
    "ko": (
        "필터는 S 픽셀씩 이동하므로 마지막 윈도우가 마지막 픽셀에서 정확히 끝날 때만 출력 크기가 정수가 "
        "되며, 패딩(padding)으로 크기를 맞춘다는 점에 주목하세요."
    ),
}
MAX_SIZE = 4096
COURSE_EXAMPLE = ("7", "3", "2", "0")  # course note 003: 7x7 input, 3x3 filter, stride 2 -> 3x3


def size_numbers(n: int, kernel: int, stride: int, padding: int) -> dict:
    """The output size with its working, the window starts, and which paddings 0..F fit."""
    out = conv_output_size(n, kernel, stride, padding)  # strict: raises with the fixing padding
    starts = [i * stride - padding for i in range(out)]  # in input pixels; negative = in the padding
    paddings = []
    for p in range(kernel + 1):
        exact = (n - kernel + 2 * p) / stride + 1
        paddings.append({"padding": p, "exact": exact, "fits": exact == int(exact) and exact >= 1})
    numbers = {
        "n": n, "kernel": kernel, "stride": stride, "padding": padding,
        "output": out, "working": conv_working(n, kernel, stride, padding),
        "window_starts": starts, "paddings": paddings,
    }
    if stride == 1 and kernel % 2 == 1:
        numbers["same_padding"] = (kernel - 1) // 2  # the course's rule: P = (F-1)/2 keeps the size
    return numbers


def _parse(args: Sequence[str]) -> tuple[int, int, int, int]:
    expect_at_most(args, 4, USAGE)
    if not args:
        args = COURSE_EXAMPLE
    if len(args) < 2:
        raise LayerlabError(f"conv-size needs at least N and F; usage: {USAGE}")
    n = parse_int(args[0], "N (input size)", 1)
    kernel = parse_int(args[1], "F (filter size)", 1)
    stride = parse_int(args[2], "S (stride)", 1) if len(args) > 2 else 1
    padding = parse_int(args[3], "P (padding)", 0) if len(args) > 3 else 0
    if max(n, kernel, stride, padding) > MAX_SIZE:
        raise LayerlabError(f"sizes above {MAX_SIZE} are not a lesson, got {list(args)}")
    return n, kernel, stride, padding


@register_topic(
    "conv-size",
    description="the output size (N - F + 2P)/S + 1 with the working; a filter that does not fit names its padding",
    usage=USAGE,
)
def conv_size(args: Sequence[str], *, out: Path, lang: str) -> Explanation:
    n, kernel, stride, padding = _parse(args)
    numbers = size_numbers(n, kernel, stride, padding)
    if out is not None:  # None: --no-figure, the numbers and the working only
        _draw(out, lang, numbers)
    return Explanation("conv-size", text_of(numbers, lang), numbers, out)


def text_of(numbers: dict, lang: str = "en") -> str:
    n, f, s, p, o = (numbers[k] for k in ("n", "kernel", "stride", "padding", "output"))
    starts = ", ".join(str(x) for x in numbers["window_starts"][:12])
    more = ", ..." if len(numbers["window_starts"]) > 12 else ""
    fits = ", ".join(f"P={q['padding']} -> {int(q['exact'])}" for q in numbers["paddings"] if q["fits"])
    fits = fits or tr(lang, "none", "없음")
    lines = [
        tr(lang, f"input {n}x{n}, filter {f}x{f}, stride {s}, padding {p}",
           f"입력 {n}x{n}, 필터 {f}x{f}, 스트라이드 {s}, 패딩 {p}"),
        tr(lang, "output", "출력") + f" = (N - F + 2P)/S + 1 = {numbers['working']}  ->  {o}x{o}",
        tr(lang, f"the windows along one side start at pixel {starts}{more} and each covers {f} pixels",
           f"한 변을 따라 윈도우는 픽셀 {starts}{more}에서 시작하고, 각 윈도우는 {f} 픽셀을 덮습니다"),
        tr(lang, f"paddings 0..{f} that fit with stride {s}: {fits}", f"패딩 0..{f} 중 스트라이드 {s}에 맞는 것: {fits}"),
    ]
    if "same_padding" in numbers:
        q = numbers["same_padding"]
        working = conv_working(n, f, 1, q)
        lines.append(tr(lang, f"padding (F-1)/2 = {q} keeps the size: {working}",
                        f"패딩 (F-1)/2 = {q}이면 크기가 그대로입니다: {working}"))
    return "\n".join(lines)


def _draw(out: Path, lang: str, numbers: dict) -> None:
    from matplotlib.patches import Rectangle

    n, f, s, p, o = (numbers[k] for k in ("n", "kernel", "stride", "padding", "output"))
    shown = list(enumerate(numbers["window_starts"]))
    if len(shown) > 24:  # a long strip: first and last windows are enough to see the pattern
        shown = shown[:12] + shown[-12:]
    with figure_style(lang):
        fig, ax = new_figure(1, 2, (11.0, 5.2))
        strip = ax[0, 0]
        strip.axvspan(-p - 0.5, -0.5, color="0.85")
        strip.axvspan(n - 0.5, n + p - 0.5, color="0.85", label=tr(lang, "zero padding", "제로 패딩"))
        inside = tr(lang, f"input ({n} pixels)", f"입력 ({n} 픽셀)")
        strip.axvspan(-0.5, n - 0.5, color="tab:blue", alpha=0.08, label=inside)
        for row, (i, start) in enumerate(shown):
            strip.add_patch(Rectangle((start - 0.5, row + 0.1), f, 0.8, color=f"C{i % 10}", alpha=0.8))
            strip.text(start + f / 2 - 0.5, row + 0.5, str(i), ha="center", va="center", fontsize=7, color="white")
        strip.set_xlim(-p - 1, n + p)
        strip.set_ylim(len(shown), 0)
        strip.set_yticks([row + 0.5 for row in range(len(shown))], [str(i) for i, _ in shown])
        strip.legend(loc="lower right", fontsize=8)
        label(strip, tr(lang, f"{o} windows of {f} pixels, stride {s}", f"{f}픽셀 필터의 {o}개 위치, stride {s}"),
              tr(lang, "input pixel (one side)", "입력 픽셀 (한 변)"), tr(lang, "output position", "출력 위치"))
        _draw_paddings(ax[0, 1], lang, numbers)
        save_figure(fig, out, TITLE[lang].format(working=numbers["working"]), CAPTION[lang], lang)


def _draw_paddings(ax: Axes, lang: str, numbers: dict) -> None:
    rows = numbers["paddings"]
    xs = [q["padding"] for q in rows]
    ys = [q["exact"] for q in rows]
    colours = ["tab:green" if q["fits"] else "tab:red" for q in rows]
    ax.bar(xs, ys, color=colours)
    for x, y in zip(xs, ys):
        ax.text(x, y, f"{y:.3g}", ha="center", va="bottom", fontsize=8)
    ax.axvline(numbers["padding"], color="k", ls="--", lw=1)
    ax.set_xticks(xs)
    label(ax, tr(lang, "(N - F + 2P)/S + 1 for each padding: green fits, red does not",
                 "패딩별 (N - F + 2P)/S + 1: 초록은 맞음, 빨강은 맞지 않음"),
          tr(lang, "padding P", "패딩 P"), tr(lang, "output size", "출력 크기"))
