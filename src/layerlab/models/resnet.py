"""ResNet (He, Zhang, Ren & Sun, 2015), in torchvision's layout. Course unit: ResNet (4주차).

What to notice: a residual block computes F(x) and outputs ReLU(F(x) + x). The skip connection
lets the gradient flow past F, which is what lets 18, 34 or 50 layers train where a plain deep
stack degrades. Adding needs equal shapes: when a block halves the image (stride 2) or changes
the channel count, the shortcut becomes a 1x1 conv + BN (`downsample`) that matches them.
`skip=False` builds the same net without shortcuts (the paper's "plain" baseline): each block
outputs ReLU(F(x)) and no `downsample` exists. `width` scales every stage's channels (64 = the
paper; 16 is a 16x cheaper net for CPU lessons).

    ImageNet stem: 7x7 conv stride 2 (224 → 112) + 3x3 max-pool stride 2 (→ 56), then
    layer1..layer4 at 56, 28, 14, 7 with 64, 128, 256, 512 channels (x4 for Bottleneck),
    global average pool, one FC layer.
    CIFAR stem ("resnet18-cifar"): a 3x3 conv with stride 1 and no max-pool, because a 32x32
    image shrunk 4x by the ImageNet stem would leave layer4 only 1x1 maps.

Parameter counts: resnet18 11,689,512 · resnet34 21,797,672 · resnet50 25,557,032 (1000 classes)
· resnet18-cifar 11,173,962 (10 classes). state_dict keys are torchvision's (`conv1`, `bn1`,
`layer1.0.conv1`, `layer2.0.downsample.0`, `fc`), so the published ImageNet weights load.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerlab.errors import LayerlabError
from layerlab.models.layers import init_like_torchvision
from layerlab.models.registry import register_model


@dataclass(frozen=True)
class ResNetConfig:
    block: str = "basic"                            # "basic" (two 3x3 convs) or "bottleneck" (1x1-3x3-1x1)
    layers: tuple[int, int, int, int] = (2, 2, 2, 2)  # blocks per stage: (2,2,2,2) is ResNet-18
    in_channels: int = 3
    num_classes: int = 1000                         # ImageNet
    stem: str = "imagenet"                          # "imagenet" (7x7/2 + pool) or "cifar" (3x3/1)
    zero_init_residual: bool = False                # last BN of each block starts at 0: block = identity
    skip: bool = True                               # False: a "plain" net, blocks output ReLU(F(x)), no shortcut
    width: int = 64                                 # channels of the stem and layer1 (x2 per stage): 64 is the paper's


class BasicBlock(nn.Module):
    """Two 3x3 convs: out = ReLU(BN(conv(ReLU(BN(conv(x))))) + shortcut(x)). ResNet-18/34."""

    expansion = 1  # output channels = planes · expansion

    def __init__(self, in_ch: int, planes: int, stride: int = 1, skip: bool = True, shortcut: str = "B") -> None:
        super().__init__()
        self.skip = skip
        self.conv1 = nn.Conv2d(in_ch, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)  # BN follows, so the conv needs no bias
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _shortcut(in_ch, planes * self.expansion, stride, shortcut) if skip else None

    def forward(self, x: Tensor) -> Tensor:  # x: (B, in_ch, H, W)
        out = self.relu(self.bn1(self.conv1(x)))  # (B, planes, H/s, W/s)
        out = self.bn2(self.conv2(out))
        if not self.skip:
            return self.relu(out)                 # F(x) alone: the plain net
        identity = x if self.downsample is None else self.downsample(x)  # (B, planes, H/s, W/s)
        return self.relu(out + identity)          # F(x) + x: the skip connection


class Bottleneck(nn.Module):
    """1x1 squeeze → 3x3 → 1x1 expand (x4), cheaper than two 3x3 at wide channels. ResNet-50."""

    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1, skip: bool = True) -> None:
        super().__init__()
        self.skip = skip
        self.conv1 = nn.Conv2d(in_ch, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        # stride sits on the 3x3 conv (torchvision's "ResNet v1.5"), not on the first 1x1
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_ch, planes * self.expansion, stride) if skip else None

    def forward(self, x: Tensor) -> Tensor:  # x: (B, in_ch, H, W)
        out = self.relu(self.bn1(self.conv1(x)))    # (B, planes, H, W)
        out = self.relu(self.bn2(self.conv2(out)))  # (B, planes, H/s, W/s)
        out = self.bn3(self.conv3(out))             # (B, 4·planes, H/s, W/s)
        if not self.skip:
            return self.relu(out)
        identity = x if self.downsample is None else self.downsample(x)  # (B, 4·planes, H/s, W/s)
        return self.relu(out + identity)


class PadShortcut(nn.Module):
    """The paper's option A: an identity shortcut that still fits a stage that halves the image and
    doubles the channels. It keeps every `stride`-th pixel and appends zero channels: no parameters."""

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.extra, self.stride = out_ch - in_ch, stride

    def forward(self, x: Tensor) -> Tensor:            # x: (B, C, H, W)
        x = x[:, :, :: self.stride, :: self.stride]      # (B, C, H/2, W/2): every other pixel
        return F.pad(x, (0, 0, 0, 0, 0, self.extra))    # (B, 2C, H/2, W/2): C channels of zeros appended


def _shortcut(in_ch: int, out_ch: int, stride: int, kind: str = "B") -> nn.Module | None:
    """None (identity) when shapes already match; else option B, a 1x1 conv (stride s) + BN with
    torchvision's keys, or option A, the parameter-free `PadShortcut`."""
    if stride == 1 and in_ch == out_ch:
        return None
    if kind == "A":
        return PadShortcut(in_ch, out_ch, stride)
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride, bias=False),  # downsample.0
        nn.BatchNorm2d(out_ch),                                              # downsample.1
    )


_BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(nn.Module):
    def __init__(self, cfg: ResNetConfig = ResNetConfig()) -> None:
        super().__init__()
        if cfg.block not in _BLOCKS:
            raise LayerlabError(f"block must be one of {sorted(_BLOCKS)}, got {cfg.block!r}")
        if cfg.stem not in ("imagenet", "cifar"):
            raise LayerlabError(f"stem must be 'imagenet' or 'cifar', got {cfg.stem!r}")
        if len(cfg.layers) != 4:
            raise LayerlabError(f"layers must give 4 block counts, got {cfg.layers}")
        if cfg.width < 1:
            raise LayerlabError(f"width must be a positive channel count, got {cfg.width}")
        self.cfg = cfg
        block = _BLOCKS[cfg.block]
        imagenet = cfg.stem == "imagenet"
        kernel, stride = (7, 2) if imagenet else (3, 1)
        w = cfg.width
        self.conv1 = nn.Conv2d(cfg.in_channels, w, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        # Identity has no parameters, so the CIFAR stem keeps torchvision's keys
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if imagenet else nn.Identity()
        channels = w
        stages: list[nn.Sequential] = []
        for i, (planes, count) in enumerate(zip((w, 2 * w, 4 * w, 8 * w), cfg.layers)):
            stride = 1 if i == 0 else 2  # every stage after the first halves the image
            blocks = [block(channels, planes, stride, cfg.skip)]
            channels = planes * block.expansion
            blocks += [block(channels, planes, 1, cfg.skip) for _ in range(count - 1)]
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))  # global average pool: one number per channel
        self.fc = nn.Linear(channels, cfg.num_classes)
        init_like_torchvision(self, linear_std=None)  # ResNet keeps PyTorch's default Linear init
        if cfg.zero_init_residual:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    last_bn = m.bn3 if isinstance(m, Bottleneck) else m.bn2
                    nn.init.zeros_(last_bn.weight)

    def forward_features(self, x: Tensor) -> Tensor:  # x: (B, 3, 224, 224)
        x = self.relu(self.bn1(self.conv1(x)))  # (B, 64, 112, 112)   (224 + 2·3 - 7)/2 + 1 = 112
        x = self.maxpool(x)                     # (B, 64, 56, 56)     (CIFAR stem: 32x32 throughout)
        x = self.layer1(x)                      # (B, 64·e, 56, 56)   e = block.expansion (1 or 4)
        x = self.layer2(x)                      # (B, 128·e, 28, 28)
        x = self.layer3(x)                      # (B, 256·e, 14, 14)
        return self.layer4(x)                   # (B, 512·e, 7, 7)    (CIFAR stem: 4x4)

    def forward_head(self, features: Tensor) -> Tensor:  # features: (B, 512·e, h, w)
        x = self.avgpool(features)  # (B, 512·e, 1, 1)
        x = torch.flatten(x, 1)     # (B, 512·e)
        return self.fc(x)           # logits: (B, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@dataclass(frozen=True)
class CifarResNetConfig:
    depth: int = 20                # 6n + 2 weighted layers: 20, 32, 44, 56, 110 are the paper's
    skip: bool = True              # False: the plain twin, every block outputs ReLU(F(x))
    shortcut: str = "A"            # where a stage doubles the channels: "A" zero-pads (no parameters), "B" 1x1 conv + BN
    in_channels: int = 3
    num_classes: int = 10
    width: int = 16                # channels of the first stage; x2 per stage: 16, 32, 64 in the paper


class CifarResNet(nn.Module):
    """The ResNet paper's CIFAR-10 nets (§4.2) and their plain twins: a 3x3 conv, three stages of n
    BasicBlocks at 32, 16 and 8 pixels with 16, 32 and 64 channels, global average pool, FC.
    1 + 6n + 1 weighted layers: n = 3 is ResNet-20, n = 9 ResNet-56."""

    def __init__(self, cfg: CifarResNetConfig = CifarResNetConfig()) -> None:
        super().__init__()
        if cfg.depth < 8 or (cfg.depth - 2) % 6:
            raise LayerlabError(f"depth must be 6n + 2 (20, 32, 44, 56, 110, ...), got {cfg.depth}")
        if cfg.shortcut not in ("A", "B"):
            raise LayerlabError(f"shortcut must be 'A' (zero-padding identity) or 'B' (1x1 conv + BN), got {cfg.shortcut!r}")
        self.cfg = cfg
        n, w = (cfg.depth - 2) // 6, cfg.width
        self.conv1 = nn.Conv2d(cfg.in_channels, w, kernel_size=3, padding=1, bias=False)  # layer 1
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        channels = w
        stages: list[nn.Sequential] = []
        for i, planes in enumerate((w, 2 * w, 4 * w)):   # 2n weighted layers per stage
            stride = 1 if i == 0 else 2                  # the second and third stages halve the image
            blocks = [BasicBlock(channels, planes, stride, cfg.skip, cfg.shortcut)]
            blocks += [BasicBlock(planes, planes, 1, cfg.skip, cfg.shortcut) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            channels = planes
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(channels, cfg.num_classes)   # layer 6n + 2
        init_like_torchvision(self, linear_std=None)

    def forward_features(self, x: Tensor) -> Tensor:  # x: (B, 3, 32, 32)
        x = self.relu(self.bn1(self.conv1(x)))  # (B, 16, 32, 32)
        x = self.layer1(x)                      # (B, 16, 32, 32)
        x = self.layer2(x)                      # (B, 32, 16, 16)
        return self.layer3(x)                   # (B, 64, 8, 8)

    def forward_head(self, features: Tensor) -> Tensor:  # features: (B, 64, h, w)
        x = torch.flatten(self.avgpool(features), 1)  # (B, 64)
        return self.fc(x)                             # logits: (B, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def _resnet(defaults: dict[str, Any], overrides: dict[str, Any]) -> ResNet:
    merged = {**defaults, **overrides}
    merged["layers"] = tuple(merged["layers"])  # the CLI passes lists; the config is frozen
    return ResNet(ResNetConfig(**merged))


@register_model("resnet18", input_shape=(3, 224, 224), num_params=11_689_512,
                description="ResNet-18: BasicBlock x (2,2,2,2), ImageNet stem, torchvision weights load")
def resnet18(**overrides: Any) -> ResNet:
    return _resnet({"block": "basic", "layers": (2, 2, 2, 2)}, overrides)


@register_model("resnet34", input_shape=(3, 224, 224), num_params=21_797_672,
                description="ResNet-34: BasicBlock x (3,4,6,3), ImageNet stem, torchvision weights load")
def resnet34(**overrides: Any) -> ResNet:
    return _resnet({"block": "basic", "layers": (3, 4, 6, 3)}, overrides)


@register_model("resnet50", input_shape=(3, 224, 224), num_params=25_557_032,
                description="ResNet-50: Bottleneck x (3,4,6,3), ImageNet stem, torchvision weights load")
def resnet50(**overrides: Any) -> ResNet:
    return _resnet({"block": "bottleneck", "layers": (3, 4, 6, 3)}, overrides)


@register_model("resnet18-cifar", input_shape=(3, 32, 32), num_params=11_173_962,
                description="ResNet-18 for 32x32 CIFAR images: 3x3 stride-1 stem, no max-pool, 10 classes")
def resnet18_cifar(**overrides: Any) -> ResNet:
    return _resnet({"block": "basic", "layers": (2, 2, 2, 2), "stem": "cifar", "num_classes": 10}, overrides)


# The paper's CIFAR nets. Option A shortcuts hold no parameters, so each plain twin has exactly its
# ResNet's count: 432 + 32 (stem) + 14,016 + 51,072 + 203,520 (stages, n = 3) + 650 (fc) = 269,722.
@register_model("resnet20", input_shape=(3, 32, 32), num_params=269_722,
                description="ResNet-20 for CIFAR-10 (paper §4.2): 3 stages x 3 blocks, 16/32/64 channels, option A")
def resnet20(**overrides: Any) -> CifarResNet:
    return CifarResNet(CifarResNetConfig(**{"depth": 20, **overrides}))


@register_model("resnet56", input_shape=(3, 32, 32), num_params=853_018,
                description="ResNet-56 for CIFAR-10 (paper §4.2): 3 stages x 9 blocks, 16/32/64 channels, option A")
def resnet56(**overrides: Any) -> CifarResNet:
    return CifarResNet(CifarResNetConfig(**{"depth": 56, **overrides}))


@register_model("plain20", input_shape=(3, 32, 32), num_params=269_722,
                description="plain-20: ResNet-20's 20 layers without shortcuts (the paper's plain baseline)")
def plain20(**overrides: Any) -> CifarResNet:
    return CifarResNet(CifarResNetConfig(**{"depth": 20, "skip": False, **overrides}))


@register_model("plain56", input_shape=(3, 32, 32), num_params=853_018,
                description="plain-56: ResNet-56's 56 layers without shortcuts; trains worse than plain-20")
def plain56(**overrides: Any) -> CifarResNet:
    return CifarResNet(CifarResNetConfig(**{"depth": 56, "skip": False, **overrides}))
