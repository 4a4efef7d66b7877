"""The course formulas against real PyTorch layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from layerlab.errors import LayerlabError
from layerlab.arithmetic import (
    conv2d_params,
    conv_output_size,
    conv_working,
    fitting_padding,
    linear_params,
    pool_output_size,
    receptive_field,
)


def test_course_examples_7x7_input_3x3_filter():
    assert conv_output_size(7, 3, stride=1) == 5
    assert conv_output_size(7, 3, stride=2) == 3
    with pytest.raises(LayerlabError) as err:
        conv_output_size(7, 3, stride=3)
    message = str(err.value)
    assert message == (
        "a 3x3 filter with stride 3 does not fit a 7x7 input: (7 - 3 + 2*0)/3 + 1 = 2.33 "
        "is not a whole number; padding 1 makes it fit (output 3x3)"
    )
    assert "\n" not in message


def test_non_strict_floors_like_pytorch_and_the_named_padding_really_fits():
    assert conv_output_size(7, 3, stride=3, strict=False) == 2
    assert nn.Conv2d(1, 1, 3, stride=3)(torch.zeros(1, 1, 7, 7)).shape[-1] == 2
    assert fitting_padding(7, 3, 3) == 1
    assert conv_output_size(7, 3, stride=3, padding=1) == 3


def test_an_unfixable_case_says_to_change_the_stride():
    # N - F odd and S even: 2P is even, so no padding can make the span a multiple of 2
    assert fitting_padding(8, 3, 2) is None
    with pytest.raises(LayerlabError, match="change the stride"):
        conv_output_size(8, 3, stride=2)


def test_a_filter_larger_than_the_input_is_an_error():
    with pytest.raises(LayerlabError, match="larger than a 3x3 input"):
        conv_output_size(3, 5)
    with pytest.raises(LayerlabError, match="stride must be"):
        conv_output_size(7, 3, stride=0)


def test_conv_working_writes_the_formula_with_numbers():
    assert conv_working(28, 5, 1, 2) == "(28 - 5 + 2*2)/1 + 1 = 28"
    assert conv_working(7, 3, 3, 0) == "(7 - 3 + 2*0)/3 + 1 = 2.33"


@pytest.mark.parametrize("n", [5, 7, 8, 13, 32])
@pytest.mark.parametrize("kernel", [1, 2, 3, 5])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("padding", [0, 1, 2])
@pytest.mark.parametrize("dilation", [1, 2])
def test_conv_output_size_matches_nn_conv2d(n, kernel, stride, padding, dilation):
    effective = dilation * (kernel - 1) + 1
    conv = nn.Conv2d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation)
    if n + 2 * padding < effective:               # the kernel does not fit at all: both refuse
        with pytest.raises(RuntimeError):
            conv(torch.zeros(1, 1, n, n))
        with pytest.raises(LayerlabError, match=f"filter{' .dilated to ' if dilation > 1 else ' '}.*is larger than"):
            conv_output_size(n, kernel, stride, padding, dilation, strict=False)
        return
    expected = conv(torch.zeros(1, 1, n, n)).shape[-1]
    assert conv_output_size(n, kernel, stride, padding, dilation, strict=False) == expected
    if (n - effective + 2 * padding) % stride == 0:
        assert conv_output_size(n, kernel, stride, padding, dilation) == expected


@pytest.mark.parametrize("n", [4, 7, 9, 28])
@pytest.mark.parametrize("kernel,stride", [(2, None), (3, 2), (3, None), (2, 1)])
@pytest.mark.parametrize("padding", [0, 1])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_pool_output_size_matches_nn_maxpool2d(n, kernel, stride, padding, ceil_mode):
    pool = nn.MaxPool2d(kernel, stride=stride, padding=padding, ceil_mode=ceil_mode)
    expected = pool(torch.zeros(1, 1, n, n)).shape[-1]
    assert pool_output_size(n, kernel, stride, padding, ceil_mode=ceil_mode) == expected


def _measured_receptive_field(layers: list[nn.Module], size: int = 41) -> int:
    # the gradient of the centre output pixel is non-zero exactly on the pixels it sees
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    y = nn.Sequential(*layers)(x)
    y[0, 0, y.shape[-2] // 2, y.shape[-1] // 2].backward()
    cols = x.grad[0, 0].abs().sum(0).nonzero()
    return int(cols.max() - cols.min() + 1)


def _ones_conv(kernel: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    conv = nn.Conv2d(1, 1, kernel, stride=stride, dilation=dilation, bias=False)
    nn.init.ones_(conv.weight)
    return conv


def test_receptive_field_matches_the_gradient_footprint():
    assert receptive_field([(3, 1), (3, 1)]) == 5 == _measured_receptive_field([_ones_conv(3), _ones_conv(3)])
    assert receptive_field([(3, 1)] * 3) == 7
    stack = [_ones_conv(3), nn.AvgPool2d(2), _ones_conv(3), _ones_conv(5, stride=2, dilation=2)]
    spec = [(3, 1), (2, 2), (3, 1), (5, 2, 2)]
    assert receptive_field(spec) == _measured_receptive_field(stack) == 24


@pytest.mark.parametrize(
    "in_ch,out_ch,k,bias,text",
    [
        (3, 64, 3, True, "3·3·3·64 + 64 = 1,792"),
        (1, 6, 5, True, "5·5·1·6 + 6 = 156"),
        (64, 128, 3, False, "3·3·64·128 = 73,728"),
        (3, 96, (11, 7), True, "11·7·3·96 + 96 = 22,272"),
    ],
)
def test_conv2d_params_matches_nn_conv2d(in_ch, out_ch, k, bias, text):
    count, working = conv2d_params(in_ch, out_ch, k, bias)
    assert count == sum(p.numel() for p in nn.Conv2d(in_ch, out_ch, k, bias=bias).parameters())
    assert working == text


@pytest.mark.parametrize(
    "fan_in,fan_out,bias,text",
    [(784, 64, True, "784·64 + 64 = 50,240"), (64, 10, True, "64·10 + 10 = 650"), (3072, 10, False, "3072·10 = 30,720")],
)
def test_linear_params_matches_nn_linear(fan_in, fan_out, bias, text):
    count, working = linear_params(fan_in, fan_out, bias)
    assert count == sum(p.numel() for p in nn.Linear(fan_in, fan_out, bias=bias).parameters())
    assert working == text
