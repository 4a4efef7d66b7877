"""`layerlab explain pool [MATRIX] [F [S]]`: max and average pooling, window by window.

Course notes 000 ("convolution extracts features, pooling compresses them") and 003 (max
pooling keeps the largest value in the window, average pooling the mean). The course example:
[[2,2,7,3],[9,4,6,1],[8,5,2,4],[3,1,2,6]] with a 2x2 window and stride 2 gives max
[[9,7],[8,6]] and average [[4.25,4.25],[4.25,3.5]].

What to notice: pooling has no weights to learn; it halves each side (2x2, stride 2) and keeps
the strongest response (max) or the mean (average) of each window.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from layerlab.errors import LayerlabError
from layerlab.arithmetic import pool_output_size
from layerlab.viz.explain.base import (
    Explanation,
    expect_at_most,
    format_matrix,
    load_gray_image,
    parse_int,
    parse_matrix,
    register_topic,
)
from layerlab.viz.style import HIGHLIGHTS, figure_style, label_image, new_figure, save_figure, show_matrix, tr

COURSE_MATRIX = [[2, 2, 7, 3], [9, 4, 6, 1], [8, 5, 2, 4], [3, 1, 2, 6]]
USAGE = "layerlab explain pool ['2,2,7,3;9,4,6,1;8,5,2,4;3,1,2,6'] [F [S]] [--image FILE]"

# the figure's title and its caption: what to notice
TITLE = {"en": "Max and average pooling", "ko": "최대 풀링과 평균 풀링 (Pooling)"}
CAPTION = {
    "en": (
        "Notice that each coloured window becomes one number, its largest value or its mean, so pooling "
        "compresses the feature map without any weights to learn."
    ),
    "ko": (
        "색칠된 각 윈도우가 하나의 숫자(최댓값 또는 평균)가 되어, 풀링은 학습할 가중치 없이 특징 맵을 "
        "압축한다는 점에 주목하세요."
    ),
}


def pool_numbers(matrix: Sequence[Sequence[float]], size: int = 2, stride: int | None = None) -> dict:
    """Max and average pooling of a small matrix, each window written out."""
    stride = size if stride is None else stride
    x = torch.tensor(matrix, dtype=torch.float64)  # (H, W)
    out_h = pool_output_size(x.shape[0], size, stride)
    out_w = pool_output_size(x.shape[1], size, stride)
    pooled_max = F.max_pool2d(x[None, None], size, stride)[0, 0]  # (out_h, out_w)
    pooled_avg = F.avg_pool2d(x[None, None], size, stride)[0, 0]
    return {
        "input": x.tolist(), "size": size, "stride": stride, "output_shape": [out_h, out_w],
        "max": pooled_max.tolist(), "average": pooled_avg.tolist(), "windows": window_lines(x, size, stride),
    }


def window_lines(x: Tensor, size: int, stride: int, lang: str = "en") -> list[str]:
    """One line of working per pooling window of `x` (H, W): its max and its average."""
    window, average = tr(lang, "window", "윈도우"), tr(lang, "average", "평균")
    lines = []
    for i in range(pool_output_size(x.shape[0], size, stride)):
        for j in range(pool_output_size(x.shape[1], size, stride)):
            patch = x[i * stride : i * stride + size, j * stride : j * stride + size].flatten()
            values = ", ".join(f"{float(v):g}" for v in patch)
            lines.append(f"{window} ({i},{j}): max({values}) = {float(patch.max()):g}; "
                         f"{average} = {float(patch.sum()):g}/{patch.numel()} = {float(patch.mean()):.4g}")
    return lines


def _parse(args: Sequence[str]) -> tuple[list[list[float]], int, int | None]:
    expect_at_most(args, 3, USAGE)
    rest = list(args)
    matrix = COURSE_MATRIX
    if rest and any(sep in rest[0] for sep in ";/,["):
        matrix = parse_matrix(rest.pop(0), "the pooling input")
    size = parse_int(rest[0], "F (window size)", 1) if rest else 2
    stride = parse_int(rest[1], "S (stride)", 1) if len(rest) > 1 else None
    if size > min(len(matrix), len(matrix[0])):
        raise LayerlabError(f"a {size}x{size} window does not fit a {len(matrix)}x{len(matrix[0])} input")
    return matrix, size, stride


def _image(image: Path | str | None) -> tuple[Tensor, str]:
    if image is not None:
        return load_gray_image(image, max_side=64), str(image)
    from sklearn.datasets import load_digits

    digit = torch.tensor(load_digits().images[0], dtype=torch.float32) / 16.0  # (8, 8), a handwritten 0
    return digit, "scikit-learn digits[0] (8x8)"


@register_topic(
    "pool",
    description="max and average pooling window by window (the course's 4x4 example) and on an image",
    usage=USAGE,
    options=("image",),
)
def pool(args: Sequence[str], *, out: Path, lang: str, image: Path | str | None = None) -> Explanation:
    matrix, size, stride = _parse(args)
    numbers = pool_numbers(matrix, size, stride)
    picture, source = _image(image)
    s = numbers["stride"]
    if size > min(picture.shape):
        raise LayerlabError(f"a {size}x{size} window does not fit the {tuple(picture.shape)} image")
    pooled = {
        "max": F.max_pool2d(picture[None, None], size, s)[0, 0],
        "average": F.avg_pool2d(picture[None, None], size, s)[0, 0],
    }
    numbers.update(image=source, image_shape=list(picture.shape), pooled_image_shape=list(pooled["max"].shape))
    if out is not None:  # None: --no-figure, the numbers and the working only
        _draw(out, lang, numbers, picture, pooled)
    return Explanation("pool", text_of(numbers, lang), numbers, out)


def text_of(numbers: dict, lang: str = "en") -> str:
    h, w = numbers["output_shape"]
    size, stride, x = numbers["size"], numbers["stride"], torch.tensor(numbers["input"])
    shapes = f"{tuple(numbers['image_shape'])} -> {tuple(numbers['pooled_image_shape'])}"
    lines = [
        tr(lang, "input", "입력") + f" ({x.shape[0]}x{x.shape[1]}), " + tr(lang, "window", "윈도우")
        + f" {size}x{size}, " + tr(lang, "stride", "스트라이드") + f" {stride} -> {h}x{w}:",
        format_matrix(numbers["input"]),
        *window_lines(x, size, stride, lang),
        tr(lang, "max pooling:", "최대 풀링:"),
        format_matrix(numbers["max"]),
        tr(lang, "average pooling:", "평균 풀링:"),
        format_matrix(numbers["average"], "{:.4g}"),
        tr(lang, f"image {numbers['image']}: {shapes}; pooling has no weights to learn",
           f"이미지 {numbers['image']}: {shapes}; 풀링에는 학습할 가중치가 없습니다"),
    ]
    return "\n".join(lines)


def _draw(out: Path, lang: str, numbers: dict, picture: Tensor, pooled: dict[str, Tensor]) -> None:
    size, stride = numbers["size"], numbers["stride"]
    h, w = numbers["output_shape"]
    colour = [HIGHLIGHTS[n % len(HIGHLIGHTS)] for n in range(h * w)]
    boxes = [(i * stride, j * stride, size, size, colour[i * w + j]) for i in range(h) for j in range(w)]
    cells = [(i, j, 1, 1, colour[i * w + j]) for i in range(h) for j in range(w)]
    with figure_style(lang):
        fig, ax = new_figure(2, 3, (10.5, 7.2))
        show_matrix(ax[0, 0], numbers["input"], tr(lang, f"input, {size}x{size} windows, stride {stride}",
                                                   f"입력, {size}x{size} 윈도우, stride {stride}"), lang, highlight=boxes)
        show_matrix(ax[0, 1], numbers["max"], tr(lang, "max pooling", "최대 풀링 (max pooling)"), lang,
                    cmap="Oranges", highlight=cells)
        show_matrix(ax[0, 2], numbers["average"], tr(lang, "average pooling", "평균 풀링 (average pooling)"), lang,
                    fmt="{:.4g}", cmap="Purples", highlight=cells)
        ax[1, 0].imshow(picture.numpy(), cmap="gray_r" if picture.shape[0] <= 8 else "gray", vmin=0, vmax=1)
        label_image(ax[1, 0], tr(lang, f"image {tuple(picture.shape)}", f"이미지 {tuple(picture.shape)}"), lang)
        for col, kind in ((1, "max"), (2, "average")):
            result = pooled[kind]
            ax[1, col].imshow(result.numpy(), cmap="gray_r" if picture.shape[0] <= 8 else "gray", vmin=0, vmax=1)
            name = tr(lang, kind, "최대" if kind == "max" else "평균")
            shape = tuple(result.shape)
            label_image(ax[1, col], tr(lang, f"{name} pooled {shape}", f"{name} 풀링 {shape}"), lang)
        save_figure(fig, out, TITLE[lang], CAPTION[lang], lang)
