"""U-Net: output sizes for both paddings, the paper's parameter count by hand, and one-line errors."""

from __future__ import annotations

import pytest
import torch

from layerlab.errors import LayerlabError
from layerlab.inspect import summary
from layerlab.models import get_model


def _conv(c_in: int, c_out: int, k: int = 3) -> int:
    return c_in * k * k * c_out + c_out


def test_the_paper_net_has_31_030_658_parameters_counted_level_by_level():
    widths = [64, 128, 256, 512, 1024]
    down = _conv(1, 64) + _conv(64, 64) + sum(_conv(a, b) + _conv(b, b) for a, b in zip(widths, widths[1:]))
    up = sum(_conv(2 * c, c, 2) + _conv(2 * c, c) + _conv(c, c) for c in widths[:-1])   # up-conv 2x2, then two 3x3
    head = _conv(64, 2, 1)
    assert down + up + head == 31_030_658
    model = get_model("unet-paper")
    assert sum(p.numel() for p in model.parameters()) == 31_030_658


def test_same_padding_keeps_the_input_size_and_valid_padding_follows_the_paper_arithmetic():
    same = get_model("unet", width=4)
    assert same(torch.randn(2, 1, 48, 32)).shape == (2, 2, 48, 32)
    valid = get_model("unet", width=2, padding="valid", batch_norm=False)
    assert valid.output_size(572) == 388            # the paper's figure 1: a 572 tile gives a 388 map
    assert valid(torch.randn(1, 1, 572, 572)).shape == (1, 2, 388, 388)


def test_depth_one_valid_arithmetic_by_hand():
    # 12 -> two convs 8 -> pool 4 -> bottom two convs 0: too small (a one-line error)
    # 20 -> 16 -> 8 -> 4 -> up 8 -> 4
    model = get_model("unet", depth=1, width=2, padding="valid")
    assert model.output_size(20) == 4
    assert model(torch.randn(1, 1, 20, 20)).shape == (1, 2, 4, 4)
    with pytest.raises(LayerlabError, match="too small"):
        model.output_size(12)


def test_a_side_that_cannot_halve_is_a_one_line_error():
    with pytest.raises(LayerlabError, match="divisible by 16"):
        get_model("unet", width=2)(torch.randn(1, 1, 40, 40))
    with pytest.raises(LayerlabError, match="padding must be"):
        get_model("unet", padding="reflect")


def test_summary_lists_every_level_of_the_encoder_and_decoder():
    table = summary(get_model("unet"), (1, 64, 64))
    names = [row.name for row in table.rows]
    for level in range(4):
        assert f"encoder.{level}.0" in names and f"decoder.{level}.0" in names and f"up.{level}" in names
    shapes = {row.name: row.output_shape for row in table.rows}
    assert shapes["encoder.3.5"] == (128, 8, 8)     # level 3: 16·2^3 channels at 64 / 2^3
    assert shapes["bottom.5"] == (256, 4, 4)
    assert shapes["head"] == (2, 64, 64)
    assert table.total_params == 1_942_306


def test_the_smallest_valid_tile_for_an_output_side():
    paper = get_model("unet-paper", padding="valid")
    assert paper.input_size_for(388) == 572 and paper.input_size_for(389) == 572 + 16   # the next tile grows by 2^4
    assert paper.output_size(588) == 404
    assert get_model("unet", width=2).input_size_for(30) == 32                           # "same": the next multiple of 16
