"""LeNet-5 (LeCun et al., 1998). Course unit: convolutional networks (CNN의 시작).

What to notice: two 5x5 conv + pool stages turn a 32x32 digit into 16 maps of 5x5 = 400 numbers,
and three fully connected layers turn those into 10 class scores. Every weight can be counted by
hand (check: `layerlab summary lenet5`):

    conv1  1→6,  5x5:  6·(1·5·5) + 6     =    156
    conv2  6→16, 5x5: 16·(6·5·5) + 16    =  2,416
    fc1    400→120:    400·120 + 120     = 48,120
    fc2    120→84:     120·84 + 84       = 10,164
    fc3    84→10:      84·10 + 10        =    850
                                  total    61,706

MNIST digits are 28x28: `padding=2` on conv1 pads them to the 32x32 the paper used, so the
count stays 61,706 (padding adds no weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from layerlab.errors import LayerlabError
from layerlab.models.registry import register_model


@dataclass(frozen=True)
class LeNet5Config:
    in_channels: int = 1
    num_classes: int = 10
    activation: str = "tanh"  # the 1998 paper; "relu" trains faster
    pool: str = "avg"         # the paper's subsampling averages; "max" is the modern choice
    padding: int = 0          # conv1 padding: 2 makes a 28x28 MNIST digit behave like 32x32


_ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}
_POOLS: dict[str, type[nn.Module]] = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}


class LeNet5(nn.Module):
    """conv(6@5x5) → pool → conv(16@5x5) → pool → FC 120 → FC 84 → FC num_classes."""

    def __init__(self, cfg: LeNet5Config = LeNet5Config()) -> None:
        super().__init__()
        if cfg.activation not in _ACTIVATIONS:
            raise LayerlabError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {cfg.activation!r}")
        if cfg.pool not in _POOLS:
            raise LayerlabError(f"pool must be one of {sorted(_POOLS)}, got {cfg.pool!r}")
        self.cfg = cfg
        act, pool = _ACTIVATIONS[cfg.activation], _POOLS[cfg.pool]
        self.features = nn.Sequential(
            nn.Conv2d(cfg.in_channels, 6, kernel_size=5, padding=cfg.padding),  # C1
            act(),
            pool(kernel_size=2, stride=2),                                       # S2
            nn.Conv2d(6, 16, kernel_size=5),                                     # C3
            act(),
            pool(kernel_size=2, stride=2),                                       # S4
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120),  # C5 in the paper: a 5x5 conv over 5x5 maps is a linear layer
            act(),
            nn.Linear(120, 84),          # F6
            act(),
            nn.Linear(84, cfg.num_classes),
        )

    def forward_features(self, x: Tensor) -> Tensor:  # x: (B, 1, 32, 32)
        return self.features(x)  # (B, 16, 5, 5)   conv (32-5)/1+1 = 28, pool 14, conv 10, pool 5

    def forward_head(self, features: Tensor) -> Tensor:  # features: (B, 16, 5, 5)
        x = torch.flatten(features, 1)  # (B, 400)
        if x.shape[1] != 16 * 5 * 5:  # a 28x28 input without padding arrives here as (B, 256)
            raise LayerlabError(
                f"lenet5 needs 32x32 inputs (or 28x28 with padding=2); with padding={self.cfg.padding} "
                f"this input gave {tuple(features.shape[1:])} feature maps instead of (16, 5, 5)"
            )
        return self.classifier(x)  # logits: (B, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model("lenet5", input_shape=(1, 32, 32), num_params=61_706,
                description="LeNet-5 (1998): 2 conv + 3 FC layers; padding=2 for 28x28 MNIST")
def lenet5(**overrides: Any) -> LeNet5:
    return LeNet5(LeNet5Config(**overrides))
