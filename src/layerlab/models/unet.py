"""U-Net (Ronneberger, Fischer & Brox, 2015). Course unit: semantic segmentation.

What to notice: the left half (the contracting path) is a classifier's feature extractor: each
level is two 3x3 convs + ReLU, then a 2x2 max-pool halves the image and the next level doubles the
channels. The right half (the expanding path) climbs back: a 2x2 up-convolution (transposed conv,
stride 2) doubles the image and halves the channels, the encoder's map of the same level is
concatenated beside it (the skip connection: the fine detail the pooling threw away), and two 3x3
convs mix the two. A 1x1 conv turns the last 64 channels into one score per class and pixel.

The paper's net (`unet-paper`, width 64, depth 4, 1 input channel, 2 classes) has 31,030,658
parameters: level by level, two 3x3 convs c_in·9·c_out + c_out each, and each up-convolution
c·4·c/2 + c/2. `width` scales every level (64 is the paper's; the CPU default `unet` uses 16,
16x fewer multiply-accumulates). `depth` is the number of poolings (4 in the paper).

Padding: the paper's convs are unpadded ("valid"): each 3x3 conv trims one pixel a side, so a
572x572 tile gives a 388x388 map, and the image is predicted tile by tile with mirrored borders
(overlap-tile). `padding="same"` (the default here) pads every conv, so the output keeps the
input's size (any size divisible by 2^depth); the parameters are the same.
    valid arithmetic, depth 4: down each level n -> n - 4 (two convs), then /2 (pool);
    bottom n -> n - 4; up each level n -> 2n (up-conv), then - 4 (two convs):
    572 -> 568 /2 284 -> 280 /2 140 -> 136 /2 68 -> 64 /2 32 -> 28 (bottom)
        -> 56 - 4 = 52 -> 104 - 4 = 100 -> 200 - 4 = 196 -> 392 - 4 = 388.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from layerlab.errors import LayerlabError
from layerlab.models.registry import register_model


@dataclass(frozen=True)
class UNetConfig:
    width: int = 16              # channels of the first level (x2 per level); 64 is the paper's
    depth: int = 4               # max-pools down (= up-convolutions up); the paper's 4
    in_channels: int = 1         # grayscale electron micrographs
    num_classes: int = 2         # cell, membrane
    padding: str = "same"        # "same": output size = input size; "valid": the paper's unpadded convs
    batch_norm: bool = True      # BN after each conv: not in the paper, but trains in far fewer steps on a CPU


class DoubleConv(nn.Sequential):
    """One level: conv 3x3 -> ReLU -> conv 3x3 -> ReLU (with BN before each ReLU if asked)."""

    def __init__(self, in_ch: int, out_ch: int, *, pad: int, batch_norm: bool) -> None:
        layers: list[nn.Module] = []
        for c_in in (in_ch, out_ch):
            layers.append(nn.Conv2d(c_in, out_ch, kernel_size=3, padding=pad, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_ch))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class UNet(nn.Module):
    """encoder[i] at level i (width·2^i channels), bottom, up[i] + decoder[i] back up, head 1x1."""

    def __init__(self, cfg: UNetConfig = UNetConfig()) -> None:
        super().__init__()
        if cfg.padding not in ("same", "valid"):
            raise LayerlabError(f"padding must be 'same' or 'valid', got {cfg.padding!r}")
        if cfg.depth < 1 or cfg.width < 1:
            raise LayerlabError(f"depth and width must be >= 1, got depth={cfg.depth}, width={cfg.width}")
        self.cfg = cfg
        pad = 1 if cfg.padding == "same" else 0
        widths = [cfg.width * 2**i for i in range(cfg.depth + 1)]   # 64, 128, 256, 512, 1024 in the paper
        self.encoder = nn.ModuleList()
        c_in = cfg.in_channels
        for c in widths[:-1]:
            self.encoder.append(DoubleConv(c_in, c, pad=pad, batch_norm=cfg.batch_norm))
            c_in = c
        self.pool = nn.MaxPool2d(2)
        self.bottom = DoubleConv(widths[-2], widths[-1], pad=pad, batch_norm=cfg.batch_norm)
        # decoder level i (deepest first): up-convolution 2c -> c, concat with encoder's c -> 2c, two convs 2c -> c
        self.up = nn.ModuleList(nn.ConvTranspose2d(2 * c, c, kernel_size=2, stride=2) for c in reversed(widths[:-1]))
        self.decoder = nn.ModuleList(DoubleConv(2 * c, c, pad=pad, batch_norm=cfg.batch_norm) for c in reversed(widths[:-1]))
        self.head = nn.Conv2d(cfg.width, cfg.num_classes, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:                  # x: (B, 1, H, W); paper: (B, 1, 572, 572)
        self._check(x)
        skips = []
        for level in self.encoder:                           # level i: (B, w·2^i, H/2^i, W/2^i)  ("same")
            x = level(x)                                     # paper: 64@568, 128@280, 256@136, 512@64
            skips.append(x)
            x = self.pool(x)                                 # halve: 284, 140, 68, 32
        x = self.bottom(x)                                   # (B, w·2^depth, H/2^depth, W/2^depth); paper 1024@28
        for up, level, skip in zip(self.up, self.decoder, reversed(skips)):
            x = up(x)                                        # (B, c, 2h, 2w): paper 512@56, 256@104, 128@200, 64@392
            x = torch.cat([_center_crop(skip, x.shape[-2:]), x], dim=1)   # (B, 2c, 2h, 2w): skip first, as in the paper's figure
            x = level(x)                                     # (B, c, 2h - 4, 2w - 4) valid; paper 512@52 ... 64@388
        return self.head(x)                                  # logits (B, num_classes, H_out, W_out)

    def output_size(self, n: int) -> int:
        """The output side for an input side `n` (= n for "same"; the arithmetic above for "valid")."""
        trim = 0 if self.cfg.padding == "same" else 4        # two unpadded 3x3 convs: 2 pixels a side
        for _ in range(self.cfg.depth):
            n = n - trim
            if n < 2 or n % 2:
                raise LayerlabError(f"U-Net input side does not halve evenly at every level (reached {n}); "
                                    f"use a side divisible by {2**self.cfg.depth}" + (" after the trims (e.g. 572)" if trim else ""))
            n //= 2
        n -= trim
        for _ in range(self.cfg.depth):
            n = 2 * n - trim
        if n < 1:
            raise LayerlabError(f"U-Net input too small for depth {self.cfg.depth} valid convs")
        return n

    def input_size_for(self, n: int) -> int:
        """The smallest input side whose output side is at least `n` (the arithmetic above, run backwards
        from the bottom level's side k = 1, 2, ...): the tile for the paper's overlap-tile prediction."""
        trim = 0 if self.cfg.padding == "same" else 4
        k = 1
        while True:
            out = k
            for _ in range(self.cfg.depth):
                out = 2 * out - trim                         # up-convolution doubles, two convs trim
            if out >= n:
                side = k + trim                              # the bottom level's input
                for _ in range(self.cfg.depth):
                    side = 2 * side + trim                   # each level down: pool halves, two convs trim
                return side
            k += 1

    def _check(self, x: Tensor) -> None:
        for side in x.shape[-2:]:
            self.output_size(int(side))                      # raises a one-line error for a side that cannot halve


def _center_crop(x: Tensor, size: torch.Size) -> Tensor:
    """The middle `size` window of x (B, C, H, W): valid convs make the encoder's maps larger than the decoder's."""
    top, left = (x.shape[-2] - size[0]) // 2, (x.shape[-1] - size[1]) // 2
    return x[..., top : top + size[0], left : left + size[1]]


# ---------------------------------------------------------------------------------------------
# Registered variants
# ---------------------------------------------------------------------------------------------

@register_model("unet", input_shape=(1, 256, 256), num_params=1_942_306, task="segmentation",
                description="U-Net, width 16 (CPU default), padded convs with BN: output = input size")
def unet(**overrides: Any) -> UNet:
    return UNet(UNetConfig(**overrides))


@register_model("unet-paper", input_shape=(1, 512, 512), num_params=31_030_658, task="segmentation",
                description="the paper's U-Net: width 64, depth 4, no BN (padded convs; padding='valid' for the original)")
def unet_paper(**overrides: Any) -> UNet:
    return UNet(UNetConfig(**{"width": 64, "batch_norm": False, **overrides}))
