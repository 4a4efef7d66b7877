"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012), in torchvision's single-GPU form
("One weird trick", Krizhevsky 2014). Course unit: the revival of neural networks (뉴럴넷의 부활).

What to notice: five conv layers (11x11 stride 4 first, to shrink a 224x224 image fast) and three
huge fully connected layers. The convs hold only 2.5M of the 61,100,840 parameters; the first
FC layer alone (256·6·6 → 4096) holds 37.7M. Dropout before the FC layers fights the overfitting
that so many weights invite. ReLU replaced tanh, and LRN (in the paper) is left out, as in
torchvision: batch normalisation later made it obsolete.

state_dict keys are torchvision's (`features.0.weight` … `classifier.6.bias`), so the published
ImageNet weights load with `layerlab.models.pretrained.load_pretrained`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

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
