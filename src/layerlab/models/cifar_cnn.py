"""The course's VGG-style CIFAR-10 net. Course unit: CNN - VGG16, 실습 CIFAR-10 (3주차).

The notes: input image → basic block 1 → basic block 2 → basic block 3 → Flatten → FC1 → ReLU →
FC2 → ReLU → FC3 → class scores, each basic block (기본 블록) being Conv2d → ReLU → Conv2d → ReLU →
MaxPool, so 32x32 → 16x16 → 8x8 → 4x4. The notes give no widths; the defaults are those of the
textbook code the course follows (its `BasicBlock(in_channels, out_channels, hidden_dim)` and
`CNN` classes): blocks 3→16→32, 32→64→128, 128→128→256, then FC 4096 → 2048 → 256 → 10.

What to notice: the convs hold 540,192 parameters, the FC layers 8,917,770 (FC1 alone
256·4·4·2048 + 2048 = 8,390,656): total 9,457,962. Convolutions share their weights across
the image; fully connected layers do not.

    block1  conv 3→16: 448        conv 16→32: 4,640
    block2  conv 32→64: 18,496    conv 64→128: 73,856
    block3  conv 128→128: 147,584 conv 128→256: 295,168
    fc1 4096→2048: 8,390,656   fc2 2048→256: 524,544   fc3 256→10: 2,570

`batch_norm=True` (plus wider `widths`) gives the faster-training variant; `batch_norm=False`
with the defaults is exactly the course's net. Children are named like the course code
(`features.block1.conv1`, `classifier.fc1`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from layerlab.errors import LayerlabError
from layerlab.models.layers import vgg_block
from layerlab.models.registry import register_model


@dataclass(frozen=True)
class CifarCNNConfig:
    in_channels: int = 3
    num_classes: int = 10
    image_size: int = 32                         # square inputs; each block halves it (32 → 4)
    widths: tuple[int, ...] = (32, 128, 256)     # each block's output channels
    block_hidden: tuple[int, ...] = (16, 64, 128)  # each block's first conv width; () = same as widths
    hidden: tuple[int, ...] = (2048, 256)        # FC sizes between Flatten and the logits
    batch_norm: bool = False                     # BN after every conv: not in the course's net
    pool_first: bool = False                     # pool between a block's convs: not in the course's net
    dropout: float = 0.0                         # after every hidden FC ReLU; the course uses none


class CifarCNN(nn.Module):
    def __init__(self, cfg: CifarCNNConfig = CifarCNNConfig()) -> None:
        super().__init__()
        block_hidden = cfg.block_hidden or cfg.widths
        if not cfg.widths or len(block_hidden) != len(cfg.widths):
            raise LayerlabError(
                f"block_hidden needs one width per block ({len(cfg.widths)}) or () for 'same as widths', "
                f"got {cfg.block_hidden}"
            )
        side = cfg.image_size // 2 ** len(cfg.widths)  # each block halves the image
        if side < 1:
            raise LayerlabError(f"{len(cfg.widths)} blocks halve a {cfg.image_size}px image to nothing")
        self.cfg = cfg
        blocks: list[tuple[str, nn.Module]] = []
        in_ch = cfg.in_channels
        for i, (out_ch, mid) in enumerate(zip(cfg.widths, block_hidden), start=1):
            blocks.append((f"block{i}", vgg_block(in_ch, out_ch, mid, batch_norm=cfg.batch_norm, pool_first=cfg.pool_first)))
            in_ch = out_ch
        self.features = nn.Sequential(OrderedDict(blocks))
        self.flat_size = cfg.widths[-1] * side * side  # 256 · 4 · 4 = 4096 for the course's net
        layers: list[tuple[str, nn.Module]] = []
        sizes = (self.flat_size, *cfg.hidden)
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            layers += [(f"fc{i}", nn.Linear(n_in, n_out)), (f"relu{i}", nn.ReLU(inplace=True))]
            if cfg.dropout > 0:
                layers.append((f"dropout{i}", nn.Dropout(cfg.dropout)))
        layers.append((f"fc{len(sizes)}", nn.Linear(sizes[-1], cfg.num_classes)))  # no ReLU: logits
        self.classifier = nn.Sequential(OrderedDict(layers))

    def forward_features(self, x: Tensor) -> Tensor:  # x: (B, 3, 32, 32)
        return self.features(x)  # (B, 256, 4, 4)   32 → 16 → 8 → 4, one halving per block

    def forward_head(self, features: Tensor) -> Tensor:  # features: (B, 256, 4, 4)
        x = torch.flatten(features, 1)  # (B, 4096)
        if x.shape[1] != self.flat_size:
            raise LayerlabError(
                f"cifar-cnn was built for {self.cfg.image_size}x{self.cfg.image_size} inputs "
                f"(image_size={self.cfg.image_size}); got feature maps {tuple(features.shape[1:])}"
            )
        return self.classifier(x)  # logits: (B, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model("cifar-cnn", input_shape=(3, 32, 32), num_params=9_457_962,
                description="the course's CIFAR-10 net: 3 basic blocks (Conv-ReLU-Conv-ReLU-MaxPool) + 3 FC")
def cifar_cnn(**overrides: Any) -> CifarCNN:
    for key in ("widths", "block_hidden", "hidden"):  # the CLI passes lists; the config is frozen
        if key in overrides:
            overrides[key] = tuple(overrides[key])
    return CifarCNN(CifarCNNConfig(**overrides))
