"""The ResNet paper's CIFAR nets and their plain twins; AlexNet's LRN as an option of alexnet-cifar."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from layerlab.errors import LayerlabError
from layerlab.models import get_model
from layerlab.models.alexnet import local_response_norm
from layerlab.models.resnet import BasicBlock, PadShortcut


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _weighted_layers(model: nn.Module) -> int:
    return sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())


@pytest.mark.parametrize(("name", "layers", "params"), [
    ("resnet20", 20, 269_722), ("plain20", 20, 269_722), ("resnet56", 56, 853_018), ("plain56", 56, 853_018)])
def test_6n_plus_2_weighted_layers_and_the_papers_parameter_counts(name, layers, params):
    model = get_model(name)
    assert _weighted_layers(model) == layers            # conv1 + 6n convs + fc, option A adds no conv
    assert _count(model) == params


def test_resnet20s_count_by_hand_and_option_b_adds_two_1x1_convs():
    stem = 3 * 16 * 9 + 2 * 16                           # conv1 + bn1 = 464
    stage1 = 3 * 2 * (16 * 16 * 9 + 2 * 16)              # 3 blocks of 2 convs + 2 BNs = 14,016
    stage2 = (16 * 32 * 9 + 32 * 32 * 9 + 4 * 32) + 2 * 2 * (32 * 32 * 9 + 2 * 32)  # 51,072
    stage3 = (32 * 64 * 9 + 64 * 64 * 9 + 4 * 64) + 2 * 2 * (64 * 64 * 9 + 2 * 64)  # 203,520
    fc = 64 * 10 + 10
    assert stem + stage1 + stage2 + stage3 + fc == 269_722 == _count(get_model("resnet20"))
    option_b = 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64      # 1x1 conv + BN where 16→32 and 32→64: 2,752
    assert _count(get_model("resnet20", shortcut="B")) == 269_722 + option_b == 272_474
    assert _count(get_model("resnet20", depth=110)) == 1_727_962   # the paper's 1.7M


def test_option_a_shortcut_subsamples_and_appends_zero_channels():
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(1, 2, 4, 4)
    out = PadShortcut(2, 4, stride=2)(x)
    assert out.shape == (1, 4, 2, 2)
    assert out[0, 0].tolist() == [[0.0, 2.0], [8.0, 10.0]]      # every other pixel of channel 0
    assert out[0, 1].tolist() == [[16.0, 18.0], [24.0, 26.0]]
    assert out[0, 2:].abs().sum() == 0                          # two channels of zeros
    assert not list(PadShortcut(2, 4, 2).parameters())


def test_the_plain_twin_has_no_shortcut_zeroing_a_blocks_residual_branch_tells_them_apart():
    resnet, plain = get_model("resnet20"), get_model("plain20")
    plain.load_state_dict(resnet.state_dict())                 # option A: the very same keys and weights
    for model in (resnet, plain):
        block = model.layer1[0]
        nn.init.zeros_(block.bn2.weight)                        # F(x) = BN2(...) = 0 for every input
        nn.init.zeros_(block.bn2.bias)
        model.eval()
    x = torch.rand(2, 16, 32, 32)                               # what layer1 reads: ReLU outputs, >= 0
    with torch.no_grad():
        assert torch.equal(resnet.layer1[0](x), x)               # ReLU(0 + x) = x: the block is the identity
        assert torch.equal(plain.layer1[0](x), torch.zeros_like(x))  # ReLU(0): the signal is gone
        images = torch.randn(2, 3, 32, 32)
        assert not torch.allclose(resnet(images), plain(images), atol=1e-3)
    shortcuts = [m for m in resnet.modules() if isinstance(m, PadShortcut)]
    assert len(shortcuts) == 2 and not [m for m in plain.modules() if isinstance(m, PadShortcut)]
    assert all(isinstance(b, BasicBlock) and not b.skip for b in plain.layer3)


def test_stage_shapes_and_mistakes():
    with torch.no_grad():
        assert get_model("resnet56").forward_features(torch.zeros(1, 3, 32, 32)).shape == (1, 64, 8, 8)
    with pytest.raises(LayerlabError, match=r"depth must be 6n \+ 2"):
        get_model("resnet20", depth=21)
    with pytest.raises(LayerlabError, match="shortcut must be 'A'"):
        get_model("plain56", shortcut="C")


# --- AlexNet-style CIFAR net: LRN, none, batch norm ---------------------------------------------


def _children(norm: str) -> list[str]:
    return [name for name, _ in get_model("alexnet-cifar", norm=norm).features.named_children()]


def test_the_norm_option_changes_the_module_list_and_only_batch_norm_adds_parameters():
    assert _children("none")[:4] == ["conv1", "relu1", "pool1", "conv2"]
    assert _children("lrn")[:8] == ["conv1", "relu1", "lrn1", "pool1", "conv2", "relu2", "lrn2", "pool2"]
    assert _children("batch")[:5] == ["conv1", "bn1", "relu1", "pool1", "conv2"]
    lrn = get_model("alexnet-cifar", norm="lrn")
    assert [n for n, m in lrn.named_modules() if isinstance(m, nn.LocalResponseNorm)] == ["features.lrn1", "features.lrn2"]
    batch = get_model("alexnet-cifar", norm="batch")
    assert sum(isinstance(m, nn.BatchNorm2d) for m in batch.modules()) == 5
    assert _count(get_model("alexnet-cifar", norm="none")) == _count(lrn) == 463_562
    assert _count(batch) == 463_562 + 2 * (32 + 64 + 96 + 96 + 64) == 464_266
    with pytest.raises(LayerlabError, match="norm must be one of lrn, none, batch"):
        get_model("alexnet-cifar", norm="layer")


def test_lrn_is_the_papers_formula():
    # one pixel with channels 1..7: b_c = a_c / (2 + 1e-4 · Σ a² over channels c-2..c+2)^0.75
    a = torch.arange(1.0, 8.0).reshape(1, 7, 1, 1)
    b = local_response_norm()(a).flatten()
    assert b[3].item() == pytest.approx(4 / (2 + 1e-4 * (4 + 9 + 16 + 25 + 36)) ** 0.75, rel=1e-6)   # 2.3705
    assert b[0].item() == pytest.approx(1 / (2 + 1e-4 * (1 + 4 + 9)) ** 0.75, rel=1e-6)               # zero-padded edge
