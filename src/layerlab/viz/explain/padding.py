"""`layerlab explain padding [P]`: zero, reflect and replicate padding of the same image.

Course note 003: zero padding makes a filter fit, and P = (F-1)/2 with stride 1 keeps the size.

What to notice: zero padding draws a dark frame the next filter will see as an edge; reflect
mirrors the image without repeating the border pixel; replicate stretches the border pixel.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from layerlab.errors import LayerlabError
from layerlab.viz.explain.base import (
    Explanation,
    expect_at_most,
    format_matrix,
    load_gray_image,
    parse_int,
    register_topic,
)
from layerlab.viz.style import figure_style, label_image, new_figure, save_figure, show_matrix, tr

MODES = ("zero", "reflect", "replicate")
# each mode in the text, in the topic's two languages
MODE_NOTES = {
    "zero": {"en": "zero: a frame of 0 (nn.Conv2d's padding=1)", "ko": "zero: 0으로 된 테두리 (nn.Conv2d의 padding=1)"},
    "reflect": {"en": "reflect: mirrored around the border pixel, which is not repeated",
                "ko": "reflect: 가장자리 픽셀을 기준으로 거울처럼 비춤 (가장자리 픽셀은 반복되지 않음)"},
    "replicate": {"en": "replicate: the border pixel repeated outwards", "ko": "replicate: 가장자리 픽셀을 바깥으로 반복"},
}
TINY = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
USAGE = "layerlab explain padding [P]   (P = padding width in pixels on the image, default 16) [--image FILE]"

# the figure's title and its caption: what to notice
TITLE = {"en": "Padding the same image three ways", "ko": "같은 이미지에 세 가지 패딩 (Padding)"}
CAPTION = {
    "en": (
        "Notice the red frame around the original pixels: zero padding adds a dark border that a filter "
        "will read as an edge, while reflect and replicate continue the picture."
    ),
    "ko": (
        "빨간 테두리 안이 원본 픽셀입니다: 제로 패딩은 필터가 경계(edge)로 읽을 어두운 테두리를 "
        "만들고, 반사·복제 패딩은 그림을 자연스럽게 이어 간다는 점에 주목하세요."
    ),
}


def pad(x: Tensor, width: int, mode: str) -> Tensor:
    """Pad a 2-D tensor by `width` on every side; `mode` is zero, reflect or replicate."""
    torch_mode = "constant" if mode == "zero" else mode
    return F.pad(x[None, None], (width,) * 4, mode=torch_mode)[0, 0]  # (H + 2P, W + 2P)


def padding_numbers(width: int = 1) -> dict:
    """The three modes on the 3x3 matrix 1..9, with the size each gives."""
    tiny = torch.tensor(TINY, dtype=torch.float32)
    padded = {mode: pad(tiny, width, mode) for mode in MODES}
    return {
        "tiny": TINY,
        "tiny_width": width,
        "padded": {mode: t.to(torch.int64).tolist() for mode, t in padded.items()},
        "padded_shape": list(padded["zero"].shape),
    }


@register_topic(
    "padding",
    description="zero, reflect and replicate padding of the same image, side by side, with a 3x3 matrix by hand",
    usage=USAGE,
    options=("image",),
)
def padding(args: Sequence[str], *, out: Path, lang: str, image: Path | str | None = None) -> Explanation:
    expect_at_most(args, 1, USAGE)
    width = parse_int(args[0], "P (padding width)", 1) if args else 16
    picture = load_gray_image(image, "flower.jpg", max_side=160)
    if width >= min(picture.shape):
        shorter = min(picture.shape)
        raise LayerlabError(f"padding {width} must be smaller than the image's shorter side ({shorter} pixels)")
    numbers = padding_numbers(1)
    numbers.update(image=str(image) if image else "flower.jpg", image_shape=list(picture.shape), width=width,
                   padded_image_shape=[picture.shape[0] + 2 * width, picture.shape[1] + 2 * width])
    padded = {mode: pad(picture, width, mode) for mode in MODES}
    if out is not None:  # None: --no-figure, the numbers and the working only
        _draw(out, lang, padded, numbers)
    return Explanation("padding", text_of(numbers, lang), numbers, out)


def text_of(numbers: dict, lang: str = "en") -> str:
    h, w = numbers["image_shape"]
    ph, pw = numbers["padded_image_shape"]
    th, tw = numbers["padded_shape"]
    image, width = numbers["image"], numbers["width"]
    lines = [tr(lang, f"the 3x3 matrix 1..9 padded by 1 on every side -> {th}x{tw}:",
                f"1..9의 3x3 행렬을 모든 변에 1씩 패딩 -> {th}x{tw}:")]
    for mode in MODES:
        lines += [MODE_NOTES[mode][lang], format_matrix(numbers["padded"][mode])]
    lines.append(tr(lang, f"image {image} ({h}x{w}) padded by {width} -> {ph}x{pw} in every mode",
                    f"이미지 {image} ({h}x{w}), 모든 변에 {width}씩 패딩 -> 어느 방식이든 {ph}x{pw}"))
    lines.append(tr(lang, "with stride 1, padding (F-1)/2 keeps a FxF filter's output the size of its input",
                    "스트라이드 1에서 패딩 (F-1)/2를 주면 FxF 필터의 출력이 입력과 같은 크기가 됩니다"))
    return "\n".join(lines)


def _draw(out: Path, lang: str, padded: dict[str, Tensor], numbers: dict) -> None:
    names = {
        "zero": tr(lang, "zero padding", "제로 패딩 (zero)"),
        "reflect": tr(lang, "reflect padding", "반사 패딩 (reflect)"),
        "replicate": tr(lang, "replicate padding", "복제 패딩 (replicate)"),
    }
    p = numbers["width"]
    with figure_style(lang):
        fig, ax = new_figure(2, 3, (11.0, 7.4))
        for col, mode in enumerate(MODES):
            image = padded[mode]
            ax[0, col].imshow(image.numpy(), cmap="gray", vmin=0, vmax=1)
            h, w = image.shape
            ax[0, col].plot([p - 0.5, w - p - 0.5, w - p - 0.5, p - 0.5, p - 0.5],
                            [p - 0.5, p - 0.5, h - p - 0.5, h - p - 0.5, p - 0.5], color="tab:red", lw=1)
            label_image(ax[0, col], f"{names[mode]}, P={p}", lang)
            show_matrix(ax[1, col], numbers["padded"][mode], names[mode] + " (1..9, P=1)", lang,
                        cmap="Greens", highlight=[(1, 1, 3, 3, "tab:red")])
        save_figure(fig, out, TITLE[lang], CAPTION[lang], lang)
