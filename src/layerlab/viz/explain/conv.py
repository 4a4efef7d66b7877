"""`layerlab explain conv [KERNEL]`: a kernel slid over an image, and over a tiny matrix by hand.

Course notes 000 (Input image -> Convolution Kernel -> Feature map), 003 (each output is the
dot product of the filter with the patch under it) and 004 (filters that blur, emboss, outline).

What to notice: every output pixel is one dot product of the kernel with the patch under it;
the kernel's numbers alone decide whether the picture gets blurred, sharpened or reduced to
its edges. Like nn.Conv2d, the kernel is not flipped (strictly, cross-correlation; course note
003 says a learned filter makes the difference irrelevant).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from layerlab.errors import LayerlabError
from layerlab.arithmetic import conv_output_size, conv_working
from layerlab.viz.explain.base import (
    Explanation,
    expect_at_most,
    format_matrix,
    load_gray_image,
    parse_matrix,
    register_topic,
)
from layerlab.viz.style import figure_style, label_image, new_figure, save_figure, show_matrix, tr

PRESETS: dict[str, list[list[float]]] = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "blur": [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]],  # Gaussian 3x3
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
    "outline": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "sobel-x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],  # responds to left-right change: vertical edges
    "sobel-y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],  # responds to up-down change: horizontal edges
}
MAX_KERNEL = 9
USAGE = (
    "layerlab explain conv [blur|sharpen|emboss|outline|sobel-x|sobel-y|identity|'a,b,c;d,e,f;g,h,i'] "
    "[--image FILE]"
)

# the figure's title and its caption: what to notice
TITLE = {"en": "Convolution with the '{name}' kernel", "ko": "'{name}' 커널로 합성곱 (Convolution)"}
CAPTION = {
    "en": (
        "Notice that each output cell is the dot product of the kernel with the patch under it, so the "
        "kernel's numbers alone decide what the feature map shows."
    ),
    "ko": (
        "출력의 각 칸은 커널과 그 아래 패치의 내적(곱의 합)이므로, 커널의 숫자만으로 특징 맵이 무엇을 "
        "보여줄지 정해진다는 점에 주목하세요."
    ),
}


def resolve_kernel(arg: str | None) -> tuple[str, Tensor]:
    """A preset by name, or a custom square matrix written like '0,-1,0;-1,5,-1;0,-1,0'."""
    if arg is None:
        arg = "sobel-x"
    if not any(ch.isdigit() for ch in arg):
        if arg not in PRESETS:
            import difflib

            close = difflib.get_close_matches(arg, PRESETS, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise LayerlabError(f"unknown kernel {arg!r}{hint} (presets: {', '.join(PRESETS)}, or a matrix 'a,b;c,d')")
        return arg, torch.tensor(PRESETS[arg], dtype=torch.float64)
    rows = parse_matrix(arg, "a custom kernel")
    if len(rows) != len(rows[0]) or len(rows) > MAX_KERNEL:
        raise LayerlabError(
            f"a custom kernel must be square and at most {MAX_KERNEL}x{MAX_KERNEL}, got {len(rows)}x{len(rows[0])}"
        )
    return "custom", torch.tensor(rows, dtype=torch.float64)


def tiny_input(size: int) -> Tensor:
    """A small matrix of digits 0..9 to slide the kernel over by hand; the same every time."""
    generator = torch.Generator().manual_seed(size)
    return torch.randint(0, 10, (size, size), generator=generator).to(torch.float64)  # (size, size)


def _num(v: float) -> str:
    text = f"{v:.4g}"
    return f"({text})" if v < 0 else text


def sliding_window(inputs: Tensor, kernel: Tensor, stride: int = 1) -> tuple[Tensor, list[str]]:
    """The convolution written out: each output cell as the dot product of the kernel and a patch.

    Returns the output (same as F.conv2d, no padding) and one line of working per output cell.
    """
    k = kernel.shape[0]
    size = conv_output_size(inputs.shape[0], k, stride)
    out = torch.zeros(size, size, dtype=inputs.dtype)
    lines = []
    for i in range(size):
        for j in range(size):
            patch = inputs[i * stride : i * stride + k, j * stride : j * stride + k]  # (k, k)
            out[i, j] = (patch * kernel).sum()
            terms = " + ".join(f"{_num(float(x))}·{_num(float(w))}" for x, w in zip(patch.flatten(), kernel.flatten()))
            lines.append(f"out[{i},{j}] = {terms} = {float(out[i, j]):.4g}")
    return out, lines


def convolve_image(image: Tensor, kernel: Tensor) -> Tensor:
    """The kernel over a grayscale image (H, W), zero padding (F-1)/2 so the size is kept."""
    k = kernel.shape[0]
    x = image.to(torch.float64)[None, None]  # (1, 1, H, W)
    return F.conv2d(x, kernel[None, None], padding=k // 2)[0, 0]  # (H', W'); = (H, W) for odd k


@register_topic(
    "conv",
    description="a kernel (blur, sharpen, emboss, outline, sobel, custom) applied to an image, "
    "and by hand to a tiny matrix",
    usage=USAGE,
    options=("image",),
)
def conv(args: Sequence[str], *, out: Path, lang: str, image: Path | str | None = None) -> Explanation:
    expect_at_most(args, 1, USAGE)
    name, kernel = resolve_kernel(args[0] if args else None)
    k = kernel.shape[0]
    picture = load_gray_image(image, "china.jpg", max_side=112)  # small enough to see a 3x3 kernel act
    feature_map = convolve_image(picture, kernel)
    small = tiny_input(max(5, k + 2))
    small_out, dots = sliding_window(small, kernel)
    numbers = {
        "kernel_name": name,
        "kernel": kernel.tolist(),
        "image": str(image) if image else "china.jpg",
        "image_shape": list(picture.shape),
        "output_shape": list(feature_map.shape),
        "output_min": float(feature_map.min()),
        "output_max": float(feature_map.max()),
        "tiny_input": small.tolist(),
        "tiny_output": small_out.tolist(),
        "dot_products": dots,
    }
    text = text_of(numbers, lang)
    if out is not None:  # None: --no-figure, the numbers and the working only
        _draw(out, lang, picture, kernel, feature_map, small, small_out, name)
    return Explanation("conv", text, numbers, out)


def text_of(numbers: dict, lang: str = "en") -> str:
    k = len(numbers["kernel"])
    h, w = numbers["image_shape"]
    n = len(numbers["tiny_input"])
    pad = k // 2
    name, image = numbers["kernel_name"], numbers["image"]
    low, high = f"{numbers['output_min']:.3f}", f"{numbers['output_max']:.3f}"
    height, width, tiny = conv_working(h, k, 1, pad), conv_working(w, k, 1, pad), conv_working(n, k, 1, 0)
    lines = [
        tr(lang, f"kernel {name!r} ({k}x{k}), slid like nn.Conv2d (not flipped):",
           f"커널 {name!r} ({k}x{k}), nn.Conv2d처럼 뒤집지 않고 밀어 움직입니다:"),
        format_matrix(numbers["kernel"]),
        tr(lang, f"image {image} as grayscale {h}x{w}, zero padding (F-1)/2 = {pad} keeps the size:",
           f"이미지 {image} (흑백 {h}x{w}), 제로 패딩 (F-1)/2 = {pad}이면 크기가 그대로입니다:"),
        tr(lang, f"  height {height}, width {width}", f"  높이 {height}, 너비 {width}"),
        tr(lang, f"  feature map values from {low} to {high}", f"  특징 맵의 값: {low} ~ {high}"),
        tr(lang, f"by hand on a {n}x{n} matrix, stride 1, no padding: {tiny}",
           f"{n}x{n} 행렬에서 손으로 계산 (스트라이드 1, 패딩 없음): {tiny}"),
        format_matrix(numbers["tiny_input"]),
        tr(lang, "each output cell is the dot product of the kernel with the patch under it:",
           "출력의 각 칸은 커널과 그 아래 패치의 내적입니다:"),
        *numbers["dot_products"],
        tr(lang, "feature map:", "특징 맵:"),
        format_matrix(numbers["tiny_output"], "{:.4g}"),
    ]
    return "\n".join(lines)


def _draw(out: Path, lang: str, picture: Tensor, kernel: Tensor, feature_map: Tensor,
          small: Tensor, small_out: Tensor, name: str) -> None:
    k = kernel.shape[0]
    with figure_style(lang):
        fig, ax = new_figure(2, 3, (10.5, 7.0))
        ax[0, 0].imshow(picture.numpy(), cmap="gray")
        label_image(ax[0, 0], tr(lang, f"input image {tuple(picture.shape)}", f"입력 이미지 {tuple(picture.shape)}"), lang)
        show_matrix(ax[0, 1], kernel, tr(lang, f"kernel '{name}'", f"커널 (필터) '{name}'"), lang, fmt="{:.3g}")
        low, high = torch.quantile(feature_map.float(), torch.tensor([0.01, 0.99])).tolist()
        ax[0, 2].imshow(feature_map.numpy(), cmap="gray", vmin=low, vmax=high)  # a few extreme pixels would wash it out
        label_image(ax[0, 2], tr(lang, "output: feature map", "출력: 특징 맵 (feature map)"), lang)
        show_matrix(ax[1, 0], small, tr(lang, "tiny input: first window", "작은 입력: 첫 번째 윈도우"), lang,
                    highlight=[(0, 0, k, k, "tab:red"), (0, 1, k, k, "tab:orange")])
        value = float(small_out[0, 0])
        products = small[:k, :k] * kernel  # the first window times the kernel, element by element
        title = tr(lang, f"window × kernel, summed = {value:.4g}", f"윈도우 × 커널, 합 = {value:.4g} (내적)")
        show_matrix(ax[1, 1], products, title, lang, fmt="{:.3g}", cmap="Oranges")
        show_matrix(ax[1, 2], small_out, tr(lang, f"output: out[0,0] = {value:.4g}", f"출력: out[0,0] = {value:.4g}"),
                    lang, fmt="{:.3g}", highlight=[(0, 0, 1, 1, "tab:red"), (0, 1, 1, 1, "tab:orange")])
        save_figure(fig, out, TITLE[lang].format(name=name), CAPTION[lang], lang)
