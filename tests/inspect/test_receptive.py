"""explain_pixel: the dot product behind one feature-map number, recomputed term by term, and the input
pixels it depends on, checked against PyTorch's own output and the receptive-field arithmetic."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from layerlab.errors import LayerlabError
from layerlab.inspect.receptive import dot_product, explain_pixel


def two_convs(activation: nn.Module | None = None) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3, stride=2, padding=1), activation or nn.Identity(), nn.Conv2d(2, 3, 3))


@pytest.mark.parametrize("layer, channel, y, x", [("0", 1, 0, 0), ("0", 0, 3, 5), ("2", 2, 1, 2), ("2", 0, 0, 0)])
def test_the_recomputed_sum_is_the_number_pytorch_produced(layer, channel, y, x):
    model = two_convs(nn.ReLU())
    inputs = torch.randn(1, 1, 16, 16)
    result = explain_pixel(model, inputs, layer, channel, y, x)
    with torch.no_grad():
        out = model[: int(layer) + 1](inputs)
    assert result["value"] == pytest.approx(float(out[0, channel, y, x]), abs=1e-6)
    assert result["recomputed"] == pytest.approx(result["value"], abs=1e-5)
    assert sum(c["contribution"] for c in result["per_channel"]) + result["bias"] == pytest.approx(result["value"], abs=1e-5)


def test_the_first_layers_terms_are_its_weights_times_the_padded_window():
    model = two_convs()
    inputs = torch.arange(16 * 16, dtype=torch.float32).reshape(1, 1, 16, 16)
    result = explain_pixel(model, inputs, "0", 0, 0, 1)            # stride 2, padding 1: rows -1..1, columns 1..3
    window = torch.zeros(3, 3)
    window[1:, :] = inputs[0, 0, 0:2, 1:4]                          # row -1 is the zero padding
    assert torch.tensor(result["terms"]["inputs"]).equal(window)
    assert torch.tensor(result["terms"]["weights"]).equal(model[0].weight[0, 0].detach())
    assert result["terms"]["sum"] == pytest.approx(float((window * model[0].weight[0, 0].detach()).sum()), rel=1e-6)
    assert (result["kernel"], result["stride"], result["padding"]) == ([3, 3], [2, 2], [1, 1])


def test_the_region_is_the_receptive_field_of_the_layer_arithmetic():
    model = two_convs()                                             # no ReLU: every pixel of the field counts
    inputs = torch.randn(1, 1, 32, 32)
    first = explain_pixel(model, inputs, "0", 0, 4, 6)["region"]    # rows 4·2-1 .. +2, columns 6·2-1 .. +2
    assert first == {"top": 7, "bottom": 9, "left": 11, "right": 13, "pixels": 9}
    # the second conv (3x3, stride 1) over the first (3x3, stride 2, padding 1): 3 + (3-1)·2 = 7 pixels wide
    second = explain_pixel(model, inputs, "2", 1, 2, 3)["region"]
    assert second == {"top": 3, "bottom": 9, "left": 5, "right": 11, "pixels": 49}
    corner = explain_pixel(model, inputs, "0", 0, 0, 0)["region"]   # the padding is cut off at the border
    assert corner == {"top": 0, "bottom": 1, "left": 0, "right": 1, "pixels": 4}


def test_grouped_dilated_and_reflect_padded_convs_are_recomputed_exactly():
    torch.manual_seed(1)
    conv = nn.Conv2d(4, 6, 3, padding=2, dilation=2, groups=2, padding_mode="reflect")
    features = torch.randn(4, 9, 9)
    out = conv(features[None])[0]
    for channel, y, x in ((0, 0, 0), (4, 8, 3), (5, 4, 4)):
        terms = dot_product(conv, features, channel, y, x)
        assert terms["recomputed"] == pytest.approx(float(out[channel, y, x]), abs=1e-5)
        assert terms["in_channels"] == 2 and terms["first_in_channel"] == (0 if channel < 3 else 2)


def test_a_dead_relu_leaves_no_region_and_the_model_mode_is_kept():
    model = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.ReLU(), nn.Conv2d(1, 1, 1))
    nn.init.constant_(model[0].weight, -1.0)
    model.train()
    result = explain_pixel(model, torch.ones(1, 1, 4, 4), "2", 0, 0, 0)   # conv1 is -1 everywhere: ReLU is off
    assert result["region"] is None and model.training


@pytest.mark.parametrize("layer, channel, y, x, message", [
    ("1", 0, 0, 0, "layer '1' is not a conv layer of this model; its conv layers are 0, 2"),
    ("0", 2, 0, 0, "0 has 2 channels of 8x8; channel 2, row 0, column 0 is outside it"),
    ("2", 0, 6, 0, "2 has 3 channels of 6x6; channel 0, row 6, column 0 is outside it"),
])
def test_a_layer_or_position_that_is_not_there_is_one_line(layer, channel, y, x, message):
    with pytest.raises(LayerlabError, match=message):
        explain_pixel(two_convs(nn.ReLU()), torch.randn(1, 1, 16, 16), layer, channel, y, x)
