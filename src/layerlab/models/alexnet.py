"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012), in torchvision's single-GPU form
("One weird trick", Krizhevsky 2014). Course unit: the revival of neural networks (뉴럴넷의 부활).

What to notice: five conv layers (11x11 stride 4 first, to shrink a 224x224 image fast) and three
huge fully connected layers. The convs hold only 2.5M of the 61,100,840 parameters; the first
FC layer alone (256·6·6 → 4096) holds 37.7M. Dropout before the FC layers fights the overfitting
that so many weights invite. ReLU replaced tanh, and LRN (in the paper) is left out, as in
torchvision: batch normalisation later made it obsolete.

state_dict keys are torchvision's (`features.0.weight` … `classifier.6.bias`), so the published
ImageNet weights load with `layerlab.models.pretrained.load_pretrained`.

`alexnet-cifar` is the same design cut down for 32x32 CIFAR images (5x5 convs at stride 1 instead of
11x11 at stride 4, about a quarter of the channels, 256-unit FC layers), with the paper's local
response normalisation (LRN) as an option, `norm`:

    "lrn"   (the default, as in the 2012 paper) conv → ReLU → LRN → max-pool after conv1 and conv2:
            b_c = a_c / (k + α · Σ a_c'² over the 5 neighbouring channels c')^β, k = 2, α = 1e-4,
            β = 0.75. It has no parameters: it only damps a channel where its neighbours fire.
    "none"  the same net without it (what torchvision and VGG did).
    "batch" batch normalisation after every conv, conv → BN → ReLU (what replaced LRN).

    layer  output (32x32 input)   parameters (widths 32, 64, 96, 96, 64)
    conv1  32 x 32 x 32 (5x5)     3·32·25 + 32 = 2,432        pool 3/2 → 15x15
    conv2  64 x 15 x 15 (5x5)     32·64·25 + 64 = 51,264      pool 3/2 → 7x7
    conv3  96 x 7 x 7 (3x3)       64·96·9 + 96 = 55,392
    conv4  96 x 7 x 7             96·96·9 + 96 = 83,040
    conv5  64 x 7 x 7             96·64·9 + 64 = 55,360       pool 3/2 → 3x3
    fc1    256                    576·256 + 256 = 147,712
    fc2    256                    256·256 + 256 = 65,792
    fc3    10                     256·10 + 10 = 2,570          total 463,562 (+704 with batch norm)
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from layerlab.errors import LayerlabError
from layerlab.models.layers import init_like_torchvision
from layerlab.models.registry import register_model


@dataclass(frozen=True)
class AlexNetConfig:
    in_channels: int = 3
    num_classes: int = 1000  # ImageNet
    dropout: float = 0.5     # the paper's rate, on the inputs of the first two FC layers


class AlexNet(nn.Module):
    def __init__(self, cfg: AlexNetConfig = AlexNetConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        # indices 0..12 match torchvision, so state_dict keys match (features.0, .3, .6, .8, .10)
        self.features = nn.Sequential(
            nn.Conv2d(cfg.in_channels, 64, kernel_size=11, stride=4, padding=2),  # 0
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),  # overlapping pooling: window 3, step 2
            nn.Conv2d(64, 192, kernel_size=5, padding=2),                        # 3
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),                       # 6
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),                       # 8
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),                       # 10
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        # any input of at least 63x63 ends as 6x6 maps, so the FC sizes never change
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(cfg.dropout),
            nn.Linear(256 * 6 * 6, 4096),  # 1: 9216·4096 + 4096 = 37,752,832 parameters
            nn.ReLU(inplace=True),
            nn.Dropout(cfg.dropout),
            nn.Linear(4096, 4096),         # 4
            nn.ReLU(inplace=True),
            nn.Linear(4096, cfg.num_classes),  # 6: the head to replace for transfer learning
        )

    def forward_features(self, x: Tensor) -> Tensor:  # x: (B, 3, 224, 224)
        # conv1 (224 + 2·2 - 11)/4 + 1 = 55, pool 27, conv2 27, pool 13, conv3-5 13, pool 6
        return self.features(x)  # (B, 256, 6, 6)

    def forward_head(self, features: Tensor) -> Tensor:  # features: (B, 256, h, w)
        x = self.avgpool(features)  # (B, 256, 6, 6)
        x = torch.flatten(x, 1)     # (B, 9216)
        return self.classifier(x)   # logits: (B, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model("alexnet", input_shape=(3, 224, 224), num_params=61_100_840,
                description="AlexNet (2012), torchvision layout: 5 conv + 3 FC, ImageNet weights load")
def alexnet(**overrides: Any) -> AlexNet:
    return AlexNet(AlexNetConfig(**overrides))


@dataclass(frozen=True)
class AlexNetCifarConfig:
    in_channels: int = 3
    num_classes: int = 10
    widths: tuple[int, int, int, int, int] = (32, 64, 96, 96, 64)  # conv1..conv5; AlexNet: 64, 192, 384, 256, 256
    hidden: int = 256          # the two hidden FC layers; AlexNet: 4096
    dropout: float = 0.5       # before fc1 and fc2, as in AlexNet
    norm: str = "lrn"          # "lrn" (the 2012 paper), "none", or "batch" (BN after every conv)


NORMS = ("lrn", "none", "batch")


def local_response_norm() -> nn.LocalResponseNorm:
    """The paper's LRN: n = 5 channels, k = 2, α = 1e-4, β = 0.75. torch divides α by n, so it gets 5α."""
    return nn.LocalResponseNorm(size=5, alpha=5 * 1e-4, beta=0.75, k=2.0)


class AlexNetCifar(nn.Module):
    def __init__(self, cfg: AlexNetCifarConfig = AlexNetCifarConfig()) -> None:
        super().__init__()
        if cfg.norm not in NORMS:
            raise LayerlabError(f"norm must be one of {', '.join(NORMS)}, got {cfg.norm!r}")
        if len(cfg.widths) != 5:
            raise LayerlabError(f"widths must give the 5 conv layers' channels, got {cfg.widths}")
        self.cfg = cfg
        layers: list[tuple[str, nn.Module]] = []
        channels = cfg.in_channels
        for i, width in enumerate(cfg.widths, start=1):
            kernel = 5 if i <= 2 else 3                       # AlexNet: big kernels first (11, 5), then 3x3
            layers.append((f"conv{i}", nn.Conv2d(channels, width, kernel, padding=kernel // 2)))  # size kept
            if cfg.norm == "batch":
                layers.append((f"bn{i}", nn.BatchNorm2d(width)))   # normalise, then ReLU
            layers.append((f"relu{i}", nn.ReLU(inplace=True)))
            if cfg.norm == "lrn" and i <= 2:
                layers.append((f"lrn{i}", local_response_norm()))  # after the ReLU, as in the paper
            if i in (1, 2, 5):
                layers.append((f"pool{i}", nn.MaxPool2d(kernel_size=3, stride=2)))  # overlapping: window 3, step 2
            channels = width
        self.features = nn.Sequential(OrderedDict(layers))
        flat = channels * 3 * 3   # 32 → 15 → 7 → 3 after the three pools
        self.classifier = nn.Sequential(OrderedDict([
            ("dropout1", nn.Dropout(cfg.dropout)), ("fc1", nn.Linear(flat, cfg.hidden)), ("relu1", nn.ReLU(inplace=True)),
            ("dropout2", nn.Dropout(cfg.dropout)), ("fc2", nn.Linear(cfg.hidden, cfg.hidden)), ("relu2", nn.ReLU(inplace=True)),
            ("fc3", nn.Linear(cfg.hidden, cfg.num_classes)),
        ]))
        # Kaiming-normal convs, as the zoo's VGG and ResNet: with torch's default (a third of the
        # variance a ReLU layer needs) the signal fades through 8 layers and the net without
        # normalisation sits at loss 2.30 for epochs
        init_like_torchvision(self, linear_std=None)

    def forward_features(self, x: Tensor) -> Tensor:  # x: (B, 3, 32, 32)
        # conv1 32, pool (32 - 3)/2 + 1 = 15, conv2 15, pool 7, conv3-5 7, pool 3
        return self.features(x)  # (B, 64, 3, 3)

    def forward_head(self, features: Tensor) -> Tensor:  # features: (B, 64, 3, 3)
        return self.classifier(torch.flatten(features, 1))  # (B, 576) → logits (B, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model("alexnet-cifar", input_shape=(3, 32, 32), num_params=463_562,
                description="AlexNet's design for 32x32 CIFAR: 5 conv + 3 FC, norm=lrn|none|batch (LRN as in 2012)")
def alexnet_cifar(**overrides: Any) -> AlexNetCifar:
    if "widths" in overrides:   # the CLI passes lists; the config is frozen
        overrides["widths"] = tuple(overrides["widths"])
    return AlexNetCifar(AlexNetCifarConfig(**overrides))
