"""VGG (Simonyan & Zisserman, 2014), in torchvision's layout. Course unit: CNN - VGG16 (3주차).

What to notice: the whole architecture is a list of numbers (`cfgs` below): a number is a 3x3
conv with that many output channels (padding 1, so the size is kept), "M" is a 2x2 max-pool that
halves it. Five pools take 224x224 to 7x7. Two stacked 3x3 convs see as far as one 5x5 with fewer
weights (2·9·C² vs 25·C²), which is why VGG uses 3x3 only. The FC layers hold most parameters:
512·7·7·4096 + 4096 = 102,764,544 of VGG16's 138,357,544.

Parameter counts at 1000 classes (checked by tests/models/test_registry.py):

    vgg11 132,863,336   vgg13 133,047,848   vgg16 138,357,544   vgg19 143,667,240
    vgg11_bn 132,868,840   vgg13_bn 133,053,736   vgg16_bn 138,365,992   vgg19_bn 143,678,248

(BN adds 2 learned numbers, scale γ and shift β, per conv channel.) state_dict keys are
torchvision's (`features.0.weight`, `classifier.6.bias`), so published ImageNet weights load.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from layerlab.errors import LayerlabError
from layerlab.models.layers import conv_bn_relu, init_like_torchvision
from layerlab.models.registry import register_model

# The paper's configurations A, B, D, E, keyed by weight-layer count (convs + 3 FC).
cfgs: dict[int, list[int | str]] = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
         512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


@dataclass(frozen=True)
class VGGConfig:
    depth: int = 16             # a key of `cfgs`: 11, 13, 16 or 19
    batch_norm: bool = False    # BN after every conv (the _bn variants): trains faster, less init-sensitive
    in_channels: int = 3
    num_classes: int = 1000     # ImageNet
    dropout: float = 0.5        # after the first two FC layers


def make_features(cfg: list[int | str], in_channels: int, batch_norm: bool) -> nn.Sequential:
    """Turn a `cfgs` list into layers: conv → [BN] → ReLU per number, MaxPool2d(2) per "M"."""
    layers: list[nn.Module] = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))  # H, W halve
        else:
            layers += conv_bn_relu(in_channels, int(v), batch_norm=batch_norm)
            in_channels = int(v)
    return nn.Sequential(*layers)


class VGG(nn.Module):
    def __init__(self, cfg: VGGConfig = VGGConfig()) -> None:
        super().__init__()
        if cfg.depth not in cfgs:
            raise LayerlabError(f"VGG depth must be one of {sorted(cfgs)}, got {cfg.depth}")
        self.cfg = cfg
        self.features = make_features(cfgs[cfg.depth], cfg.in_channels, cfg.batch_norm)
        # smaller inputs (e.g. 32x32 CIFAR, 1x1 after five pools) are spread to 7x7,
        # so the classifier and the ImageNet weights fit any input size
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),  # 0
            nn.ReLU(inplace=True),
            nn.Dropout(cfg.dropout),
            nn.Linear(4096, 4096),         # 3
            nn.ReLU(inplace=True),
            nn.Dropout(cfg.dropout),
            nn.Linear(4096, cfg.num_classes),  # 6: the head to replace for transfer learning
        )
        init_like_torchvision(self, linear_std=0.01)

    def forward_features(self, x: Tensor) -> Tensor:  # x: (B, 3, 224, 224)
        return self.features(x)  # (B, 512, 7, 7)   five pools: 224 / 2^5 = 7

    def forward_head(self, features: Tensor) -> Tensor:  # features: (B, 512, h, w)
        x = self.avgpool(features)  # (B, 512, 7, 7)
        x = torch.flatten(x, 1)     # (B, 25088)
        return self.classifier(x)   # logits: (B, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def _vgg(depth: int, batch_norm: bool, overrides: dict[str, Any]) -> VGG:
    return VGG(VGGConfig(**{"depth": depth, "batch_norm": batch_norm, **overrides}))


_IMAGENET = "(3, 224, 224) ImageNet layout; torchvision weights load"


@register_model("vgg11", input_shape=(3, 224, 224), num_params=132_863_336,
                description=f"VGG11, config A: 8 conv + 3 FC {_IMAGENET}")
def vgg11(**overrides: Any) -> VGG:
    return _vgg(11, False, overrides)


@register_model("vgg11_bn", input_shape=(3, 224, 224), num_params=132_868_840,
                description=f"VGG11 with batch norm {_IMAGENET}")
def vgg11_bn(**overrides: Any) -> VGG:
    return _vgg(11, True, overrides)


@register_model("vgg13", input_shape=(3, 224, 224), num_params=133_047_848,
                description=f"VGG13, config B: 10 conv + 3 FC {_IMAGENET}")
def vgg13(**overrides: Any) -> VGG:
    return _vgg(13, False, overrides)


@register_model("vgg13_bn", input_shape=(3, 224, 224), num_params=133_053_736,
                description=f"VGG13 with batch norm {_IMAGENET}")
def vgg13_bn(**overrides: Any) -> VGG:
    return _vgg(13, True, overrides)


@register_model("vgg16", input_shape=(3, 224, 224), num_params=138_357_544,
                description=f"VGG16, config D: 13 conv + 3 FC, the course's transfer model {_IMAGENET}")
def vgg16(**overrides: Any) -> VGG:
    return _vgg(16, False, overrides)


@register_model("vgg16_bn", input_shape=(3, 224, 224), num_params=138_365_992,
                description=f"VGG16 with batch norm {_IMAGENET}")
def vgg16_bn(**overrides: Any) -> VGG:
    return _vgg(16, True, overrides)


@register_model("vgg19", input_shape=(3, 224, 224), num_params=143_667_240,
                description=f"VGG19, config E: 16 conv + 3 FC {_IMAGENET}")
def vgg19(**overrides: Any) -> VGG:
    return _vgg(19, False, overrides)


@register_model("vgg19_bn", input_shape=(3, 224, 224), num_params=143_678_248,
                description=f"VGG19 with batch norm {_IMAGENET}")
def vgg19_bn(**overrides: Any) -> VGG:
    return _vgg(19, True, overrides)
