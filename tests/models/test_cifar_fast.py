"""The fast CIFAR-10 block net: its whitening stem really whitens, and what is fixed stays fixed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from layerlab.data import TensorData
from layerlab.engine import fit
from layerlab.errors import LayerlabError
from layerlab.models import get_model


def _correlated_images(n: int = 400) -> torch.Tensor:
    """Smooth colour images: neighbouring pixels and the three channels strongly correlated."""
    g = torch.Generator().manual_seed(0)
    base = torch.randn(n, 1, 9, 9, generator=g)
    smooth = nn.functional.interpolate(base, size=(16, 16), mode="bilinear", align_corners=False)
    colour = torch.tensor([1.0, 0.8, 0.5]).view(1, 3, 1, 1)
    return 3 * smooth * colour + 0.3 * torch.randn(n, 3, 16, 16, generator=g)


def test_the_stem_turns_2x2_patches_into_uncorrelated_unit_variance_numbers_and_their_negatives():
    model = get_model("cifar-fast", image_size=16, widths=(8, 8))
    images = _correlated_images()
    values = model.whiten_from(images, eps=1e-6)
    assert values.shape == (12,) and values.max() / values.min() > 100     # the raw patches are far from white
    with torch.no_grad():
        out = model.stem(images)                                            # (N, 24, 15, 15)
    white = out[:, :12].permute(0, 2, 3, 1).reshape(-1, 12)
    cov = torch.cov(white.T)
    torch.testing.assert_close(cov, torch.eye(12), atol=2e-3, rtol=0)       # identity: decorrelated, variance 1
    torch.testing.assert_close(out[:, 12:], -out[:, :12])                   # the other 12: the negatives
    assert not model.stem.weight.requires_grad and model.stem.bias.requires_grad


def test_batch_norm_scales_are_fixed_and_each_conv_starts_as_the_identity_on_its_inputs():
    model = get_model("cifar-fast", widths=(32, 64, 64))
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(bns) == 6 and all(not bn.weight.requires_grad and bn.bias.requires_grad for bn in bns)
    assert all(bn.momentum == 0.4 for bn in bns)
    conv = model.features.block2.conv1                                      # 32 → 64
    x = torch.randn(2, 32, 5, 5)
    torch.testing.assert_close(nn.functional.conv2d(x, conv.weight[:32], padding=1), x)   # filters 0-31 pass inputs 0-31
    assert conv.weight[32:].abs().sum() > 0                                  # the others start at PyTorch's default


def test_logits_are_the_linear_layer_on_the_max_pooled_map_over_nine():
    torch.manual_seed(0)
    model = get_model("cifar-fast", widths=(8, 16, 16), num_classes=4).eval()
    x = torch.randn(3, 3, 32, 32)
    features = model.forward_features(x)
    assert features.shape == (3, 16, 3, 3)
    expected = features.amax(dim=(2, 3)) @ model.fc.weight.T / 9
    torch.testing.assert_close(model(x), expected)


def test_whitening_needs_images_with_the_nets_channels():
    with pytest.raises(LayerlabError, match=r"whiten_from needs images \(N, 3, H, W\), got \(4, 1, 8, 8\)"):
        get_model("cifar-fast").whiten_from(torch.zeros(4, 1, 8, 8))


def test_a_grey_image_net_has_a_stem_of_its_four_patch_directions_and_their_negatives():
    model = get_model("cifar-fast", in_channels=1, num_classes=3, widths=(8, 8, 8))
    assert (model.stem.in_channels, model.stem.out_channels) == (1, 8)    # 2x2 patches of one channel: 4 numbers
    assert model.fc.out_features == 3
    model.whiten_from(torch.rand(10, 1, 32, 32))
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 3)


def test_each_block_can_have_its_own_activation_and_the_stem_takes_the_first_blocks():
    model = get_model("cifar-fast", widths=(8, 8, 8), activations=["relu", "gelu", "gelu"])   # model.json holds lists
    assert isinstance(model.act, nn.ReLU) and isinstance(model.features.block1.act2, nn.ReLU)
    assert isinstance(model.features.block2.act1, nn.GELU) and isinstance(model.features.block3.act2, nn.GELU)
    assert all(isinstance(m, nn.GELU) for m in (get_model("cifar-fast").act, get_model("cifar-fast").features.block3.act1))
    with pytest.raises(LayerlabError, match=r"activations needs one of gelu, relu per block \(3\), got \('relu',\)"):
        get_model("cifar-fast", activations=("relu",))
    with pytest.raises(LayerlabError, match=r"activations needs one of gelu, relu per block \(3\), got \('tanh', 'gelu', 'gelu'\)"):
        get_model("cifar-fast", activations=("tanh", "gelu", "gelu"))


def _stem_bias_per_epoch(stem_bias_epochs: int | None) -> list[torch.Tensor]:
    torch.manual_seed(0)
    model = get_model("cifar-fast", widths=(8, 8, 8), stem_bias_epochs=stem_bias_epochs)
    data = TensorData(torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,)))
    seen = [model.stem.bias.detach().clone()]
    fit(model, data, optimizer="sgd", lr=0.5, momentum=0.9, weight_decay=1e-3, epochs=3, batch_size=16, device="cpu",
        progress=False, log=lambda row: seen.append(model.stem.bias.detach().clone()))
    assert (model.stem.bias.grad is None) == (stem_bias_epochs is not None)   # not even computed once frozen
    return seen


def test_the_stem_bias_learns_in_the_first_stem_bias_epochs_only():
    start, *ends = _stem_bias_per_epoch(1)
    assert not torch.equal(start, ends[0]) and torch.equal(ends[0], ends[1]) and torch.equal(ends[1], ends[2])
    start, *ends = _stem_bias_per_epoch(None)                   # None: it learns all along
    assert not torch.equal(ends[0], ends[1]) and not torch.equal(ends[1], ends[2])
    with pytest.raises(LayerlabError, match="stem_bias_epochs is a number of epochs >= 0 .* got -1"):
        get_model("cifar-fast", stem_bias_epochs=-1)
