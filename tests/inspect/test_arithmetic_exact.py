"""The course formulas to the letter: their defaults, the edges of each rule, and every one-line error
word for word (a student reads these messages; a wrong article or a wrong number is a wrong lesson)."""

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


def test_defaults_are_stride_1_no_padding_and_a_bias() -> None:
    assert conv_output_size(28, 5) == 24                         # stride 1, padding 0
    assert conv_working(7, 3) == "(7 - 3 + 2*0)/1 + 1 = 5"
    assert fitting_padding(8, 3) == 0                            # stride 1: any span fits
    assert conv2d_params(3, 64, 3) == (1792, "3·3·3·64 + 64 = 1,792")
    assert linear_params(784, 64) == (50240, "784·64 + 64 = 50,240")
    assert pool_output_size(28, 2) == 14                          # stride = window, no padding
    assert pool_output_size(5, 2) == 2                            # floor: the leftover column is dropped


@pytest.mark.parametrize(
    "n,kernel,stride,dilation,padding",
    [
        (3, 3, 2, 1, 0),     # span 0 fits already: no padding needed
        (8, 2, 3, 1, 0),     # span 6
        (2, 1, 3, 1, 1),     # the answer is the largest padding tried, F
        (10, 3, 3, 2, 2),    # dilated to 5: (10 - 5 + 2*2) = 9
        (2, 1, 5, 1, None),  # padding 2 would fit, but the course tries 0..F only
    ],
)
def test_fitting_padding_is_the_smallest_padding_from_0_to_f(n, kernel, stride, dilation, padding) -> None:
    assert fitting_padding(n, kernel, stride, dilation) == padding
    if padding is not None:
        assert conv_output_size(n, kernel, stride, padding, dilation) == nn.Conv2d(
            1, 1, kernel, stride=stride, padding=padding, dilation=dilation)(torch.zeros(1, 1, n, n)).shape[-1]


@pytest.mark.parametrize(
    "size,spoken",
    [(7, "a 7x7"), (8, "an 8x8"), (80, "an 80x80"), (11, "an 11x11"), (18, "an 18x18"), (12, "a 12x12"),
     (110, "a 110x110"), (1100, "a 1100x1100"), (11000, "an 11000x11000"), (18000, "an 18000x18000")],
)
def test_sizes_take_the_article_they_are_spoken_with(size: int, spoken: str) -> None:
    with pytest.raises(LayerlabError, match=rf"^{spoken} pooling window does not fit a 1x1 input$"):
        pool_output_size(1, size)


def test_a_filter_larger_than_the_input_says_so_with_the_working() -> None:
    with pytest.raises(LayerlabError) as err:
        conv_output_size(3, 5)
    assert str(err.value) == "a 5x5 filter is larger than a 3x3 input with padding 0: (3 - 5 + 2*0)/1 + 1 = -1 is below 1"
    with pytest.raises(LayerlabError) as err:
        conv_output_size(2, 7, padding=1)
    assert str(err.value) == "a 7x7 filter is larger than a 2x2 input with padding 1: (2 - 7 + 2*1)/1 + 1 = -2 is below 1"
    with pytest.raises(LayerlabError) as err:
        conv_output_size(4, 3, dilation=2)
    assert str(err.value) == ("a 3x3 filter (dilated to 5x5) is larger than a 4x4 input with padding 0: "
                              "(4 - 5 + 2*0)/1 + 1 = 0 is below 1")


def test_a_filter_that_does_not_fit_names_the_padding_that_does() -> None:
    with pytest.raises(LayerlabError) as err:
        conv_output_size(8, 3, stride=2, padding=1)
    assert str(err.value) == ("a 3x3 filter with stride 2 does not fit an 8x8 input: (8 - 3 + 2*1)/2 + 1 = 4.50 "
                              "is not a whole number; no padding up to 3 makes it fit, so change the stride")
    with pytest.raises(LayerlabError) as err:
        conv_output_size(10, 3, stride=3, dilation=2)
    assert str(err.value) == ("a 3x3 filter with stride 3 does not fit a 10x10 input: (10 - 5 + 2*0)/3 + 1 = 2.67 "
                              "is not a whole number; padding 2 makes it fit (output 4x4)")


def test_pooling_edges() -> None:
    assert pool_output_size(3, 3) == 1 == nn.MaxPool2d(3)(torch.zeros(1, 1, 3, 3)).shape[-1]   # span 0: one window
    assert pool_output_size(5, 5, 1, padding=2) == 5 == nn.MaxPool2d(5, 1, padding=2)(torch.zeros(1, 1, 5, 5)).shape[-1]
    with pytest.raises(LayerlabError, match=r"^pool padding must lie in 0..2 \(half the window\), got 3$"):
        pool_output_size(9, 5, padding=3)
    with pytest.raises(LayerlabError, match=r"^pool padding must lie in 0..1 \(half the window\), got -1$"):
        pool_output_size(9, 3, padding=-1)


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: conv_output_size(0, 3), "input_size"),
        (lambda: conv_output_size(7, 0), "kernel"),
        (lambda: conv_output_size(7, 3, stride=0), "stride"),
        (lambda: conv_output_size(7, 3, dilation=0), "dilation"),
        (lambda: pool_output_size(0, 2), "input_size"),
        (lambda: pool_output_size(7, 0, 1), "kernel"),
        (lambda: pool_output_size(7, 2, 0), "stride"),
        (lambda: receptive_field([(0, 1)]), "kernel"),
        (lambda: receptive_field([(3, 0)]), "stride"),
        (lambda: receptive_field([(3, 1, 0)]), "dilation"),
        (lambda: conv2d_params(0, 8, 3), "in_channels"),
        (lambda: conv2d_params(3, 0, 3), "out_channels"),
        (lambda: conv2d_params(3, 8, (3, 0)), "kernel"),
        (lambda: linear_params(0, 8), "in_features"),
        (lambda: linear_params(8, 0), "out_features"),
    ],
)
def test_every_size_must_be_a_whole_number_of_at_least_1(call, name: str) -> None:
    with pytest.raises(LayerlabError, match=rf"^{name} must be a whole number >= 1, got 0$"):
        call()


def test_negative_conv_padding_is_an_error() -> None:
    with pytest.raises(LayerlabError, match=r"^padding must be >= 0, got -1$"):
        conv_output_size(7, 3, padding=-1)
