"""The course's layer arithmetic, as numbers a student can check by hand.

Course notes 003 (conv arithmetic) and 004 (parameter counting). Every formula here is tested
against a real `nn.Conv2d`, `nn.MaxPool2d` or `nn.Linear`.

What to notice: the output size (N - F + 2P)/S + 1 must be a whole number for the filter to
cover the input exactly. PyTorch silently drops the leftover border (it floors); the course
calls that case "does not fit" and fixes it with zero padding, which is what `strict=True` does.

A transposed convolution ("deconvolution", course note 004) runs the size formula backwards: each
input pixel stamps the F x F filter onto the output, S pixels after the previous one, and P pixels
are cut from every border: (N - 1)·S - 2P + F (+ output padding). It is not the inverse of the
conv, but it maps the conv's output size back to its input size, with as many weights.
"""

from __future__ import annotations

from collections.abc import Sequence

from layerlab.errors import LayerlabError


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise LayerlabError(f"{name} must be a whole number >= 1, got {value}")


def _a(n: int) -> str:
    """The size with its article: "a 7x7", but "an 8x8" and "an 11x11" (as the number is spoken)."""
    digits = str(n)
    spoken_vowel = digits.startswith("8") or (len(digits) % 3 == 2 and digits[:2] in ("11", "18"))
    return f"an {n}x{n}" if spoken_vowel else f"a {n}x{n}"


def fitting_padding(n: int, kernel: int, stride: int = 1, dilation: int = 1) -> int | None:
    """The smallest zero padding P (0..F) for which (N - F + 2P) is a multiple of S, or None."""
    effective = dilation * (kernel - 1) + 1
    for padding in range(kernel + 1):
        span = n - effective + 2 * padding
        if span >= 0 and span % stride == 0:
            return padding
    return None


def conv_working(n: int, kernel: int, stride: int = 1, padding: int = 0) -> str:
    """The course formula with the numbers filled in, e.g. "(7 - 3 + 2*0)/2 + 1 = 3".

    A size that is not a whole number is written with two decimals ("= 2.33").
    """
    exact = (n - kernel + 2 * padding) / stride + 1
    result = str(int(exact)) if exact == int(exact) else f"{exact:.2f}"
    return f"({n} - {kernel} + 2*{padding})/{stride} + 1 = {result}"


def conv_output_size(
    n: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    *,
    strict: bool = True,
) -> int:
    """Spatial size after a conv layer: (N - F + 2P)/S + 1.

    F is the effective kernel size, dilation * (kernel - 1) + 1. With `strict` (the course's
    rule) a fractional size is an error that names the padding which makes the filter fit;
    with `strict=False` the size is floored, exactly as PyTorch computes it.
    """
    _check_positive(input_size=n, kernel=kernel, stride=stride, dilation=dilation)
    if padding < 0:
        raise LayerlabError(f"padding must be >= 0, got {padding}")
    effective = dilation * (kernel - 1) + 1
    span = n - effective + 2 * padding
    if span < 0:
        raise LayerlabError(
            f"{_a(kernel)} filter{f' (dilated to {effective}x{effective})' if dilation > 1 else ''} is larger than "
            f"{_a(n)} input with padding {padding}: "
            f"{conv_working(n, effective, stride, padding)} is below 1"
        )
    if strict and span % stride:
        raise LayerlabError(_does_not_fit(n, kernel, stride, padding, dilation))
    return span // stride + 1


def _does_not_fit(n: int, kernel: int, stride: int, padding: int, dilation: int) -> str:
    effective = dilation * (kernel - 1) + 1
    head = (
        f"{_a(kernel)} filter with stride {stride} does not fit {_a(n)} input: "
        f"{conv_working(n, effective, stride, padding)} is not a whole number"
    )
    fix = fitting_padding(n, kernel, stride, dilation)
    if fix is None:
        return f"{head}; no padding up to {kernel} makes it fit, so change the stride"
    out = (n - effective + 2 * fix) // stride + 1
    return f"{head}; padding {fix} makes it fit (output {out}x{out})"


def transposed_conv_working(n: int, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0) -> str:
    """The transposed-conv formula with the numbers filled in, e.g. "(3 - 1)*2 - 2*0 + 3 = 7"."""
    out = (n - 1) * stride - 2 * padding + kernel + output_padding
    extra = f" + {output_padding}" if output_padding else ""
    return f"({n} - 1)*{stride} - 2*{padding} + {kernel}{extra} = {out}"


def transposed_conv_output_size(
    n: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
) -> int:
    """Spatial size after a transposed conv: (N - 1)·S - 2P + F + output_padding, as `nn.ConvTranspose2d`.

    F is the effective kernel size, dilation * (kernel - 1) + 1. `output_padding` (< S or < the
    dilation, PyTorch's rule) adds rows on one side: a stride-S conv maps S sizes to the same output,
    and it picks which of them to give back.
    """
    _check_positive(input_size=n, kernel=kernel, stride=stride, dilation=dilation)
    if padding < 0 or output_padding < 0:
        raise LayerlabError(f"padding and output padding must be >= 0, got {padding} and {output_padding}")
    if output_padding >= max(stride, dilation):
        raise LayerlabError(f"output padding {output_padding} must be smaller than the stride {stride} (or the "
                            f"dilation {dilation}): it only chooses among the sizes a stride-{stride} conv maps together")
    effective = dilation * (kernel - 1) + 1
    out = (n - 1) * stride - 2 * padding + effective + output_padding
    if out < 1:
        raise LayerlabError(f"padding {padding} cuts away the whole output: "
                            f"{transposed_conv_working(n, effective, stride, padding, output_padding)} is below 1")
    return out


def pool_output_size(
    n: int,
    kernel: int,
    stride: int | None = None,
    padding: int = 0,
    *,
    ceil_mode: bool = False,
) -> int:
    """Spatial size after max or average pooling, as `nn.MaxPool2d` computes it.

    The stride defaults to the window size (non-overlapping windows, the course's 2x2/2). A
    leftover border is dropped (floor) unless `ceil_mode`, which keeps a partial last window.
    """
    stride = kernel if stride is None else stride
    _check_positive(input_size=n, kernel=kernel, stride=stride)
    if not 0 <= padding <= kernel // 2:
        raise LayerlabError(f"pool padding must lie in 0..{kernel // 2} (half the window), got {padding}")
    span = n + 2 * padding - kernel
    if span < 0:
        raise LayerlabError(f"{_a(kernel)} pooling window does not fit {_a(n)} input")
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    # PyTorch's rule: the last window must start inside the input or its left padding
    if (out - 1) * stride >= n + padding:
        out -= 1
    return out


def receptive_field(layers: Sequence[tuple[int, ...]]) -> int:
    """How many input pixels (along one side) one output pixel of a stack of layers sees.

    Each layer is (kernel, stride) or (kernel, stride, dilation), first layer first. Padding
    does not change the receptive field. Two 3x3 convs see 5x5; three see 7x7 (VGG's argument).
    """
    field, jump = 1, 1
    for layer in layers:
        kernel, stride = int(layer[0]), int(layer[1])
        dilation = int(layer[2]) if len(layer) > 2 else 1
        _check_positive(kernel=kernel, stride=stride, dilation=dilation)
        field += dilation * (kernel - 1) * jump  # each step of this layer is `jump` input pixels
        jump *= stride
    return field


def conv2d_params(
    in_channels: int,
    out_channels: int,
    kernel: int | tuple[int, int],
    bias: bool = True,
) -> tuple[int, str]:
    """Parameter count of a conv layer and its working, e.g. (1792, "3·3·3·64 + 64 = 1,792").

    Every one of the `out_channels` filters has kernel_h * kernel_w * in_channels weights (the
    filter's depth matches the input's channels) plus one bias.
    """
    kh, kw = _pair(kernel)
    _check_positive(in_channels=in_channels, out_channels=out_channels, kernel=min(kh, kw))
    weights = kh * kw * in_channels * out_channels
    count = weights + (out_channels if bias else 0)
    working = f"{kh}·{kw}·{in_channels}·{out_channels}"
    if bias:
        working += f" + {out_channels}"
    return count, f"{working} = {count:,}"


def linear_params(in_features: int, out_features: int, bias: bool = True) -> tuple[int, str]:
    """Parameter count of a fully connected layer and its working, e.g. "784·64 + 64 = 50,240"."""
    _check_positive(in_features=in_features, out_features=out_features)
    count = in_features * out_features + (out_features if bias else 0)
    working = f"{in_features}·{out_features}" + (f" + {out_features}" if bias else "")
    return count, f"{working} = {count:,}"
