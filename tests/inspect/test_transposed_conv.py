"""Transposed convolution ("deconvolution") arithmetic, (N - 1)·S - 2P + F (+ output padding), against
nn.ConvTranspose2d, and a bilinear-initialised transposed conv against bilinear interpolation."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layerlab.errors import LayerlabError
from layerlab.arithmetic import conv_output_size, transposed_conv_output_size, transposed_conv_working
from layerlab.models.fcn import bilinear_kernel, upsampler


def test_worked_examples():
    # a 2x2 map, a 3x3 filter, stride 2: the stamps start at 0 and 2 and end at 4, so 5 pixels a side
    assert transposed_conv_output_size(2, 3, stride=2) == 5
    assert transposed_conv_working(2, 3, 2) == "(2 - 1)*2 - 2*0 + 3 = 5"
    # the conv going the other way, 5 -> (5 - 3)/2 + 1 = 2, has the same 3x3 weights: sizes swap back
    assert conv_output_size(5, 3, stride=2) == 2
    # output padding chooses between the sizes a stride-2 conv maps to the same output (5 and 6 -> 2)
    assert transposed_conv_output_size(2, 3, stride=2, output_padding=1) == 6
    assert transposed_conv_working(2, 3, 2, 0, 1) == "(2 - 1)*2 - 2*0 + 3 + 1 = 6"


@pytest.mark.parametrize("factor", [2, 4, 8, 16, 32])
def test_the_fcn_upsamplers_multiply_the_side_by_their_factor(factor):
    # kernel 2f, stride f, padding f/2: (N - 1)f - f + 2f = N·f, e.g. FCN-32s on a 96 image: 3 -> 96
    for n in (1, 3, 12):
        assert transposed_conv_output_size(n, 2 * factor, factor, factor // 2) == n * factor


def test_the_formula_equals_conv_transpose2d_for_every_small_case():
    checked = 0
    for n, kernel, stride, padding, dilation in itertools.product(range(1, 7), range(1, 6), range(1, 4), range(3), (1, 2)):
        for output_padding in range(max(stride, dilation)):
            layer = nn.ConvTranspose2d(1, 1, kernel, stride=stride, padding=padding, output_padding=output_padding,
                                       dilation=dilation)
            try:
                shape = layer(torch.zeros(1, 1, n, n)).shape[-2:]
            except RuntimeError:                     # torch: "output size is too small" (below 0)
                shape = (0, 0)
            if shape == (0, 0):                      # torch gives an empty map at exactly 0
                with pytest.raises(LayerlabError, match="cuts away the whole output"):
                    transposed_conv_output_size(n, kernel, stride, padding, output_padding, dilation)
                continue
            size = transposed_conv_output_size(n, kernel, stride, padding, output_padding, dilation)
            assert shape == (size, size)
            checked += 1
    assert checked == 1102                           # of 1,440 cases; padding cuts the rest to nothing


def test_output_padding_at_or_above_the_stride_is_a_one_line_error_like_torchs():
    with pytest.raises(RuntimeError):
        nn.ConvTranspose2d(1, 1, 3, stride=2, output_padding=2)(torch.zeros(1, 1, 4, 4))
    with pytest.raises(LayerlabError, match="output padding 2 must be smaller than the stride 2") as err:
        transposed_conv_output_size(4, 3, stride=2, output_padding=2)
    assert "\n" not in str(err.value)
    with pytest.raises(LayerlabError, match="must be a whole number >= 1"):
        transposed_conv_output_size(0, 3)


def test_the_bilinear_kernel_is_a_tent():
    assert bilinear_kernel(4)[0].tolist() == pytest.approx([0.0625, 0.1875, 0.1875, 0.0625])   # 0.25·[0.25, .75, .75, .25]
    assert bilinear_kernel(4)[1].tolist() == pytest.approx([0.1875, 0.5625, 0.5625, 0.1875])
    assert bilinear_kernel(3)[1].tolist() == pytest.approx([0.5, 1.0, 0.5])
    # each output pixel of a stride-f upsampling receives weights summing to 1 from its inputs (a partition of unity)
    assert float(bilinear_kernel(16).sum()) == pytest.approx(8 * 8)


@pytest.mark.parametrize("factor", [2, 4, 8])
def test_a_bilinear_transposed_conv_equals_bilinear_interpolation_in_the_interior(factor):
    x = torch.randn(2, 3, 6, 7, generator=torch.Generator().manual_seed(0))
    up = upsampler(3, factor)
    ours = up(x)                                                                   # (2, 3, 6f, 7f)
    theirs = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert ours.shape == theirs.shape == (2, 3, 6 * factor, 7 * factor)
    # align_corners=False: output pixel centres sit at (i + 0.5)/f - 0.5 in input pixels; only the outer
    # f/2 rows and columns, which would need an input pixel beyond the border, differ (zeros vs clamping)
    m = factor // 2
    torch.testing.assert_close(ours[..., m:-m, m:-m], theirs[..., m:-m, m:-m])
    assert not torch.allclose(ours[..., :m, :], theirs[..., :m, :])
    # no mixing between channels: channel 0 of the output ignores channels 1 and 2 of the input
    only_first = x.clone()
    only_first[:, 1:] = 0
    torch.testing.assert_close(up(only_first)[:, 0], ours[:, 0])
