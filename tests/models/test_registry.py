"""Every registered model builds, runs forward and backward, and has its documented size.

One parametrized test over `list_models()` covers models added later too (timm/torchvision
style). The other tests check the zoo's shared promises: `num_classes`/`in_channels` overrides,
the `forward_features`/`forward_head` seam, and LeNet-5 on 28x28 digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import nn

from layerlab.errors import LayerlabError
from layerlab.models import MODELS, example_input, get_model, list_models
from layerlab.registry import Entry

# ImageNet models with adaptive pooling accept smaller images, so forward a small one to keep this
# file fast; the parameter count is that of the default config all the same. Smallest sizes:
# AlexNet needs >= 63 px; VGG's five pools take 32 px to 1x1, which its 7x7 adaptive pool spreads;
# a U-Net is fully convolutional and takes any side divisible by 16 (four poolings).
SMALL_INPUT = {"alexnet": 64, "resnet18": 64, "resnet34": 64, "resnet50": 64} | {
    f"vgg{depth}{bn}": 32 for depth in (11, 13, 16, 19) for bn in ("", "_bn")} | {"unet": 64, "unet-paper": 32}

# The zoo's classifiers, each with its first conv and last linear layer (torchvision's names).
CLASSIFIERS = {
    "lenet5": ("features.0", "classifier.4"),
    "alexnet": ("features.0", "classifier.6"),
    "vgg11": ("features.0", "classifier.6"),
    "vgg16_bn": ("features.0", "classifier.6"),
    "resnet18": ("conv1", "fc"),
    "resnet50": ("conv1", "fc"),
    "resnet18-cifar": ("conv1", "fc"),
    "cifar-cnn": ("features.block1.conv1", "classifier.fc3"),
    "resnet20": ("conv1", "fc"),
    "plain56": ("conv1", "fc"),
    "alexnet-cifar": ("features.conv1", "classifier.fc3"),
}


@pytest.mark.parametrize("name", list_models())
def test_model_runs_forward_backward_and_has_the_documented_size(name: str) -> None:
    entry = MODELS.get(name)
    torch.manual_seed(0)
    model = get_model(name)
    inputs = example_input(entry, 2)
    if name in SMALL_INPUT:
        inputs = inputs[..., : SMALL_INPUT[name], : SMALL_INPUT[name]]
    if entry.meta["task"] == "seq2seq":                 # (source, teacher-forced target) -> (logits, attention)
        src, tgt_in = inputs
        assert src.shape == tgt_in.shape == (2, *entry.meta["input_shape"]) and int(src.min()) >= 3   # no <pad>
        outputs = model(*inputs)[0]
    elif entry.meta["task"] == "vae":                   # x -> (logits, mu, logvar)
        outputs = model(inputs)[0]
    elif entry.meta["task"] == "detection":             # (images, regions) -> (class scores, box offsets)
        rois = torch.tensor([[0.0, 0, 0, 128, 128], [0, 10, 20, 40, 90], [1, 64, 64, 100, 80]])
        scores, offsets = model(inputs, rois)
        assert scores.shape == (3, 11) and offsets.shape == (3, 4)
        outputs = scores.sum() + offsets.sum()
    else:
        outputs = model(inputs)
    outputs.float().sum().backward()
    assert sum(p.numel() for p in model.parameters()) == entry.meta["num_params"]


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_num_classes_and_in_channels_overrides_change_the_first_and_last_layers(name: str) -> None:
    first, last = CLASSIFIERS[name]
    with torch.device("meta"):  # shapes only: no memory, no initialisation time
        default = dict(get_model(name).named_modules())
        changed = dict(get_model(name, num_classes=7, in_channels=5).named_modules())
    assert isinstance(changed[first], nn.Conv2d) and isinstance(changed[last], nn.Linear)
    assert changed[first].in_channels == 5
    assert changed[first].out_channels == default[first].out_channels
    assert changed[last].out_features == 7
    assert changed[last].in_features == default[last].in_features


# (name, input, feature shape) with the arithmetic of each model's shape comments
SPLITS = [
    ("lenet5", (1, 32, 32), (16, 5, 5)),
    ("alexnet", (3, 64, 64), (256, 1, 1)),        # 64 → 15 → 7 → 7 → 3 → 3 → 1
    ("resnet50", (3, 64, 64), (2048, 2, 2)),      # stem /4, then /2 three times
    ("resnet18-cifar", (3, 32, 32), (512, 4, 4)),  # no stem downsampling: 32 / 8
    ("cifar-cnn", (3, 32, 32), (256, 4, 4)),      # three blocks: 32 → 16 → 8 → 4
    ("cifar-fast", (3, 32, 32), (256, 3, 3)),     # the 2x2 stem: 31, then 15 → 7 → 3
    ("resnet20", (3, 32, 32), (64, 8, 8)),         # stages at 32, 16, 8 px with 16, 32, 64 channels
    ("alexnet-cifar", (3, 32, 32), (64, 3, 3)),    # pools 32 → 15 → 7 → 3
]


@pytest.mark.parametrize(("name", "shape", "feature_shape"), SPLITS)
def test_forward_is_head_of_features(
    name: str, shape: tuple[int, ...], feature_shape: tuple[int, ...]
) -> None:
    torch.manual_seed(0)
    model = get_model(name, num_classes=3).eval()  # eval: dropout off, BN uses running stats
    inputs = torch.randn(2, *shape)
    with torch.no_grad():
        features = model.forward_features(inputs)
        logits = model(inputs)
        assert features.shape == (2, *feature_shape)
        assert logits.shape == (2, 3)
        torch.testing.assert_close(model.forward_head(features), logits)


def test_lenet5_on_28x28_digits_with_padding_2() -> None:
    model = get_model("lenet5", padding=2)
    assert model(torch.randn(4, 1, 28, 28)).shape == (4, 10)
    assert sum(p.numel() for p in model.parameters()) == 61_706  # padding adds no weights
    with pytest.raises(LayerlabError, match="padding=2"):
        get_model("lenet5")(torch.randn(4, 1, 28, 28))  # 28x28 without padding: 4x4 maps, not 5x5


def test_lenet5_options_and_mistakes() -> None:
    model = get_model("lenet5", activation="relu", pool="max")
    assert isinstance(model.features[1], nn.ReLU) and isinstance(model.features[2], nn.MaxPool2d)
    with pytest.raises(LayerlabError, match="activation must be one of"):
        get_model("lenet5", activation="swish")


def test_cifar_cnn_is_the_course_net_and_its_batch_norm_variant_is_configurable() -> None:
    course = get_model("cifar-cnn")
    convs = [m.out_channels for m in course.modules() if isinstance(m, nn.Conv2d)]
    assert convs == [16, 32, 64, 128, 128, 256]
    assert [m.out_features for m in course.modules() if isinstance(m, nn.Linear)] == [2048, 256, 10]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in course.modules())
    wide = get_model("cifar-cnn", widths=[64, 128, 256], block_hidden=[], hidden=[512], batch_norm=True,
                     dropout=0.3)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in wide.modules()) == 6
    assert wide.classifier.fc1.in_features == 256 * 4 * 4
    assert wide(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(LayerlabError, match="one width per block"):
        get_model("cifar-cnn", widths=(32, 64, 128, 256))


def test_resnet18_cifar_keeps_32x32_through_the_stem() -> None:
    model = get_model("resnet18-cifar")
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, nn.Identity)
    assert model.fc.out_features == 10


def test_an_unknown_override_is_one_line_that_names_the_options() -> None:
    with pytest.raises(LayerlabError) as error:
        get_model("lenet5", num_clases=3)
    assert str(error.value) == ("model 'lenet5' does not accept 'num_clases' (did you mean num_classes?); "
                                "its options are in_channels, num_classes, activation, pool, padding")


@dataclass(frozen=True)
class _BuggyConfig:
    width: int = 4


class _Buggy(nn.Module):
    def __init__(self, cfg: _BuggyConfig = _BuggyConfig()) -> None:
        super().__init__()
        self.layer = nn.Linear(3, len(cfg.width))   # the bug: len() of an int raises TypeError


def _buggy(**overrides: Any) -> _Buggy:
    return _Buggy(_BuggyConfig(**overrides))


def test_a_type_error_inside_a_builder_is_a_bug_and_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(MODELS._entries, "buggy", Entry("buggy", _buggy, {"input_shape": (3,), "num_params": 16}))
    with pytest.raises(TypeError, match="object of type 'int' has no len"):
        get_model("buggy", width=4)          # a valid override: the TypeError is the builder's own
