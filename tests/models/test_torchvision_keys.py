"""state_dict keys and shapes match torchvision's, so published ImageNet weights load.

The expected layouts in fixtures/ are written by fixtures/generate.py from torchvision's source,
independently of layerlab's model code. Models are built on the meta device: shapes without
memory or initialisation time.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from layerlab.models import get_model

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _layout(name: str) -> list[tuple[str, list[int]]]:
    with torch.device("meta"):
        model = get_model(name)
    return [(key, list(value.shape)) for key, value in model.state_dict().items()]


@pytest.mark.parametrize("name", ["alexnet", "vgg16", "resnet18"])
def test_state_dict_layout_is_torchvisions(name: str) -> None:
    expected = list(json.loads((FIXTURES / f"{name}.json").read_text())["keys"].items())
    assert _layout(name) == expected


@pytest.mark.parametrize(("name", "reference"), [("vgg16_bn", "vgg16"), ("resnet34", "resnet18")])
def test_variants_use_the_same_naming_scheme(name: str, reference: str) -> None:
    # vgg16_bn: BN shifts the indices (conv, bn, relu) but the classifier keys stay the same
    keys = [key for key, _ in _layout(name)]
    ref = json.loads((FIXTURES / f"{reference}.json").read_text())["keys"]
    assert [k for k in keys if k.startswith(("classifier.", "fc.", "conv1.", "bn1."))] == [
        k for k in ref if k.startswith(("classifier.", "fc.", "conv1.", "bn1."))
    ]
    if name == "vgg16_bn":  # torchvision: features.0 conv, features.1 BN, features.3 conv
        assert keys[:8] == ["features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
                            "features.1.running_mean", "features.1.running_var",
                            "features.1.num_batches_tracked", "features.3.weight"]
    else:  # resnet34 = (3, 4, 6, 3) BasicBlocks: layer3.5 exists, one downsample per later stage
        assert "layer3.5.conv2.weight" in keys and "layer3.6.conv1.weight" not in keys
        assert [k for k in keys if k.endswith("downsample.0.weight")] == [
            "layer2.0.downsample.0.weight", "layer3.0.downsample.0.weight", "layer4.0.downsample.0.weight"]


def test_resnet50_bottleneck_layout() -> None:
    layout = dict(_layout("resnet50"))
    assert layout["layer1.0.conv1.weight"] == [64, 64, 1, 1]
    assert layout["layer1.0.conv3.weight"] == [256, 64, 1, 1]            # expansion 4
    assert layout["layer1.0.downsample.0.weight"] == [256, 64, 1, 1]     # channels change at stride 1
    assert layout["layer2.0.conv2.weight"] == [128, 128, 3, 3]           # stride on the 3x3 (v1.5)
    assert layout["fc.weight"] == [1000, 2048]
    assert len(layout) == 320  # torchvision's resnet50 state_dict has 320 entries
