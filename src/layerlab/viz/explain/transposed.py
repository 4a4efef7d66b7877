"""`layerlab explain transposed-conv [N F [S [P]]]`: a transposed convolution ("deconvolution") by hand.

Course note 004 (semantic segmentation): deconvolution is "the reverse of convolution": strictly it
is not the inverse, but in its numbers of parameters, inputs and outputs it runs the conv backwards.

What to notice: every input pixel stamps a copy of the F x F filter, scaled by its value, onto the
output; the stamps start S pixels apart and add where they overlap, and P pixels are cut from each
border. So the output side is (N - 1)·S - 2P + F: the conv size formula solved for the input. With a
bilinear "tent" filter (kernel 2S, padding S/2) the stamps add up to bilinear interpolation, which
is how FCN's upsampling layers start (models/fcn.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from layerlab.errors import LayerlabError
from layerlab.arithmetic import conv_output_size, transposed_conv_output_size, transposed_conv_working
from layerlab.models.fcn import upsampler
from layerlab.viz.explain.base import Explanation, expect_at_most, load_gray_image, parse_int, register_topic
from layerlab.viz.style import figure_style, label_image, new_figure, save_figure, show_matrix, tr

USAGE = "layerlab explain transposed-conv [N F [S [P]]]   (input side, filter side, stride=1, padding=0; default 2 3 2 0)"
TITLE = {"en": "Transposed convolution: {working}", "ko": "전치 합성곱 (deconvolution): {working}"}
CAPTION = {
    "en": ("Notice that each input pixel stamps the whole filter, scaled by its value, S pixels after the previous "
           "one, and overlapping stamps add up; the conv going the other way maps the output size back to N."),
    "ko": ("각 입력 픽셀이 자기 값만큼 곱한 필터 전체를 S 픽셀 간격으로 찍고, 겹치는 곳은 더해진다는 점에 "
           "주목하세요. 반대 방향의 합성곱은 출력 크기를 다시 N으로 되돌립니다."),
}
MAX_SIDE = 8         # the drawing writes every number of the input, the filter and the output
FACTOR = 4           # the bilinear panel: a 4x upsampling (kernel 8, stride 4, padding 2)


def stamp(inputs: Tensor, kernel: Tensor, stride: int, padding: int) -> Tensor:
    """The transposed conv of a 2-D `inputs` (N, N) with a 2-D `kernel` (F, F), written as the sum of
    stamps: out[i·S + a, j·S + b] += inputs[i, j] · kernel[a, b], then P cut from every border."""
    n, f = inputs.shape[0], kernel.shape[0]
    full = torch.zeros((n - 1) * stride + f, (n - 1) * stride + f)            # before cutting the padding
    for i in range(n):
        for j in range(n):
            full[i * stride : i * stride + f, j * stride : j * stride + f] += inputs[i, j] * kernel
    return full[padding : full.shape[0] - padding, padding : full.shape[1] - padding]


def transposed_numbers(n: int, kernel: int, stride: int, padding: int) -> dict:
    """The input 1..N², a filter of ones, the stamped output, where each stamp lands, and the conv back."""
    out = transposed_conv_output_size(n, kernel, stride, padding)             # raises when P cuts it all away
    inputs = torch.arange(1, n * n + 1, dtype=torch.float32).reshape(n, n)
    ones = torch.ones(kernel, kernel)
    output = stamp(inputs, ones, stride, padding)
    numbers = {"n": n, "kernel": kernel, "stride": stride, "padding": padding, "output": out,
               "working": transposed_conv_working(n, kernel, stride, padding), "inputs": inputs.int().tolist(),
               "filter": ones.int().tolist(), "result": output.int().tolist(),
               "stamp_starts": [i * stride - padding for i in range(n)],
               "weights": kernel * kernel}
    try:
        numbers["conv_back"] = conv_output_size(out, kernel, stride, padding)
    except LayerlabError:                   # a stride that does not fit going back: output padding's case
        numbers["conv_back"] = None
    return numbers


def bilinear_numbers(picture: Tensor) -> dict:
    """A 4x bilinear transposed conv of a small image against F.interpolate (align_corners=False)."""
    small = F.interpolate(picture[None, None], size=(16, 16), mode="area")    # (1, 1, 16, 16)
    with torch.no_grad():
        ours = upsampler(1, FACTOR)(small)                                    # (1, 1, 64, 64)
    theirs = F.interpolate(small, scale_factor=FACTOR, mode="bilinear", align_corners=False)
    m = FACTOR // 2                                                           # the border rows that differ
    inner = float((ours - theirs)[..., m:-m, m:-m].abs().max())
    return {"small": small[0, 0], "upsampled": ours[0, 0], "interior_difference": inner,
            "border_difference": float((ours - theirs).abs().max())}


def _parse(args: Sequence[str]) -> tuple[int, int, int, int]:
    expect_at_most(args, 4, USAGE)
    args = args or ("2", "3", "2", "0")
    if len(args) < 2:
        raise LayerlabError(f"transposed-conv needs at least N and F; usage: {USAGE}")
    n, kernel = parse_int(args[0], "N (input side)", 1), parse_int(args[1], "F (filter side)", 1)
    stride = parse_int(args[2], "S (stride)", 1) if len(args) > 2 else 1
    padding = parse_int(args[3], "P (padding)", 0) if len(args) > 3 else 0
    if max(n, kernel, stride) > MAX_SIDE:
        raise LayerlabError(f"the drawing writes every number, so N, F and S go up to {MAX_SIDE}, got {list(args)}; "
                            "for sizes alone use layerlab.inspect.arithmetic.transposed_conv_output_size")
    return n, kernel, stride, padding


@register_topic(
    "transposed-conv",
    description="deconvolution: each input pixel stamps the filter, (N - 1)·S - 2P + F, and bilinear upsampling",
    usage=USAGE,
)
def transposed_conv(args: Sequence[str], *, out: Path, lang: str) -> Explanation:
    n, kernel, stride, padding = _parse(args)
    numbers = transposed_numbers(n, kernel, stride, padding)
    bilinear = bilinear_numbers(load_gray_image(None, "china.jpg", max_side=96))
    numbers.update(interior_difference=bilinear["interior_difference"], border_difference=bilinear["border_difference"])
    if out is not None:  # None: --no-figure, the numbers and the working only
        _draw(out, lang, numbers, bilinear)
    return Explanation("transposed-conv", text_of(numbers, lang), numbers, out)


def text_of(numbers: dict, lang: str = "en") -> str:
    n, f, s, p, o = (numbers[k] for k in ("n", "kernel", "stride", "padding", "output"))
    starts, working = ", ".join(str(x) for x in numbers["stamp_starts"]), numbers["working"]
    lines = [tr(lang, f"input {n}x{n} (1..{n * n}), filter {f}x{f} of 1s, stride {s}, padding {p}",
                f"입력 {n}x{n} (1..{n * n}), 모두 1인 {f}x{f} 필터, 스트라이드 {s}, 패딩 {p}"),
             tr(lang, "output", "출력") + f" = (N - 1)·S - 2P + F = {working}  ->  {o}x{o}",
             tr(lang, f"the stamps along one side start at output pixel {starts}; where they overlap, they add:",
                f"한 변을 따라 도장이 찍히기 시작하는 출력 픽셀: {starts}; 겹치는 곳은 더해집니다:")]
    lines += ["  [" + " ".join(f"{v:3d}" for v in row) + "]" for row in numbers["result"]]
    back, weights = numbers["conv_back"], numbers["weights"]
    if back is not None:
        lines.append(tr(lang, f"the conv going back, {f}x{f} with stride {s} and padding {p}, maps {o} to {back} (= N) "
                              f"with the same {weights} weights per channel pair",
                        f"거꾸로 가는 합성곱 ({f}x{f}, 스트라이드 {s}, 패딩 {p}): 크기 {o} -> {back} (= N), "
                        f"채널 쌍마다 가중치 {weights}개로 같음"))
    else:
        lines.append(tr(lang, f"the conv going back, {f}x{f} with stride {s} and padding {p}, maps {o} to "
                              "no whole size: add output padding to choose which input size to give back",
                        f"거꾸로 가는 합성곱 ({f}x{f}, 스트라이드 {s}, 패딩 {p})으로는 {o}에서 정수 크기가 나오지 않습니다: "
                        "output padding을 더해 어느 입력 크기로 되돌릴지 정하세요"))
    inside, border, m = f"{numbers['interior_difference']:.1e}", f"{numbers['border_difference']:.3f}", FACTOR // 2
    lines.append(tr(lang, f"bilinear filter (kernel {2 * FACTOR}, stride {FACTOR}, padding {m}) on a 16x16 image: "
                          f"largest difference from bilinear interpolation {inside} inside, "
                          f"{border} in the outer {m} pixels (zeros beyond the border)",
                    f"쌍선형 필터 (커널 {2 * FACTOR}, 스트라이드 {FACTOR}, 패딩 {m})로 16x16 이미지를 키우면: "
                    f"쌍선형 보간과의 최대 차이가 안쪽은 {inside}, "
                    f"가장자리 {m} 픽셀은 {border} (경계 밖은 제로 패딩)"))
    return "\n".join(lines)


def _draw(out: Path, lang: str, numbers: dict, bilinear: dict) -> None:
    colours = ["tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive"]
    n, f, p = numbers["n"], numbers["kernel"], numbers["padding"]
    with figure_style(lang):
        fig, ax = new_figure(2, 2, (11.0, 10.0))
        first_row = [(0, j, 1, 1, colours[j % len(colours)]) for j in range(min(n, len(colours)))]
        show_matrix(ax[0, 0], numbers["inputs"], tr(lang, f"input {n}x{n}", f"입력 {n}x{n}"), lang, highlight=first_row)
        starts, size = numbers["stamp_starts"], numbers["output"]
        stamps = []                                     # input (0, j) stamps rows starts[0].., columns starts[j]..
        for j in range(min(n, len(colours))):
            (top, height), (left, width) = _clip(starts[0], f, size), _clip(starts[j], f, size)
            if height > 0 and width > 0:
                stamps.append((top, left, height, width, colours[j]))
        show_matrix(ax[0, 1], numbers["result"], tr(lang, f"output {size}x{size}: the first row's stamps (P={p} cut)",
                                                    f"출력 {size}x{size}: 첫 행의 도장 (P={p} 잘림)"),
                    lang, cmap="Greens", highlight=stamps)
        ax[1, 0].imshow(bilinear["small"].numpy(), cmap="gray", vmin=0, vmax=1)
        label_image(ax[1, 0], tr(lang, "a 16x16 image", "16x16 이미지"), lang)
        ax[1, 1].imshow(bilinear["upsampled"].clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
        label_image(ax[1, 1], tr(lang, f"x{FACTOR} by a bilinear transposed conv", f"쌍선형 전치 합성곱으로 x{FACTOR}"), lang)
        save_figure(fig, out, TITLE[lang].format(working=numbers["working"]), CAPTION[lang], lang)


def _clip(start: int, length: int, size: int) -> tuple[int, int]:
    """The part of the span [start, start + length) that lies inside 0..size-1: (first, length)."""
    first, last = max(0, start), min(size, start + length)
    return first, last - first
