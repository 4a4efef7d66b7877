"""The course's block net as the fast CIFAR-10 trainers build it. Course unit: CNN 실습 CIFAR-10 (3주차).

Still three basic blocks (기본 블록) of two 3x3 convs and a 2x2 max-pool, then a classifier, as in
the course's net (models/cifar_cnn.py). What changes, each measured by the public fast trainers
(airbench, hlb-CIFAR10; Keller Jordan, "94% on CIFAR-10 in 3.29 seconds", 2024) and rewritten here:

- A whitening stem: a 2x2 conv whose 24 filters are not learned but computed from the training
  images (`whiten_from`): the 12 directions of the 2x2x3 pixel patches' covariance, each scaled to
  unit variance, and their negatives. The first block then sees decorrelated inputs, which is what
  makes the first epochs fast. 32x32 -> 31x31 (no padding), so the blocks give 15, 7 and 3.
- Pool right after each block's first conv (Conv → MaxPool → BN → GELU → Conv → BN → GELU): the
  second conv reads a map a quarter the size.
- Batch norm whose scale stays 1 (only its shift learns) and whose statistics follow the last
  batches closely (momentum 0.4); GELU instead of ReLU.
- Each conv starts as the identity on its first input channels (torch.nn.init.dirac_), the rest of
  its filters at PyTorch's default: the deep net starts close to the shallow one.
- The stem's bias learns for the first 3 epochs only (`stem_bias_epochs`), then stays: from then on
  no gradient flows below block 1, which saves a tenth of each step.
- Classifier: the 3x3 map max-pooled to 1x1, one Linear without bias, logits scaled by 1/9 (a
  cooler start for the softmax, so a large learning rate does not saturate it).

Shapes with the default widths (64, 256, 256): (B, 3, 32, 32) -> stem (B, 24, 31, 31) -> block1
(B, 64, 15, 15) -> block2 (B, 256, 7, 7) -> block3 (B, 256, 3, 3) -> pool (B, 256, 1, 1) -> (B, 10).
Parameters (1,972,792; the frozen stem weights and BN scales counted): stem 3·4·24 + 24 = 312; block1
24·9·64 + 64·9·64 + 2·(64 + 64) BN = 50,944; block2 64·9·256 + 256·9·256 + 2·512 = 738,304; block3
2·(256·9·256) + 2·512 = 1,180,672; fc 256·10 = 2,560. The training recipe that goes with it is the
cifar-cnn lab's (`layerlab run cifar-cnn`, the default `--net fast`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from layerlab.errors import LayerlabError
from layerlab.models.registry import register_model


@dataclass(frozen=True)
class CifarFastConfig:
    in_channels: int = 3
    num_classes: int = 10
    image_size: int = 32
    widths: tuple[int, ...] = (64, 256, 256)   # each block's channels
    bn_momentum: float = 0.4                   # PyTorch's convention: the weight of the newest batch
    logit_scale: float = 1 / 9
    # each block's activation (the stem's is block 1's): gelu (default, ()) or relu. ReLU is cheaper on a CPU but
    # cost accuracy in the cifar-cnn lab: all relu 0.8975 in 50.2 s/epoch, relu in block 1 0.8956 in 51.8,
    # all gelu 0.8999 in 56.2 (12 epochs, 2 cores, one run each)
    activations: tuple[str, ...] = ()
    # the stem's bias learns in the first epochs only (airbench: 3); after that block 1's first conv needs no
    # gradient for its input: 446 instead of 496 ms per step of 512 images at widths 48,128,256 (2 cores).
    # fit announces each epoch (set_epoch); a loop that does not keeps the bias learning. None: always learns
    stem_bias_epochs: int | None = 3


def _conv(in_ch: int, out_ch: int) -> nn.Conv2d:
    conv = nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1, bias=False)  # BN follows: a bias would be redundant
    with torch.no_grad():
        nn.init.dirac_(conv.weight[:min(in_ch, out_ch)])   # filter i passes input channel i through
    return conv


def _bn(channels: int, momentum: float) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(channels, momentum=momentum, eps=1e-12)
    bn.weight.requires_grad_(False)            # the scale stays 1: only the shift learns
    return bn


ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}


def fast_block(in_ch: int, out_ch: int, momentum: float, activation: str = "gelu") -> nn.Sequential:
    """Conv → MaxPool → BN → GELU → Conv → BN → GELU: (B, in, H, W) -> (B, out, H/2, W/2)."""
    act = ACTIVATIONS[activation]
    return nn.Sequential(OrderedDict([
        ("conv1", _conv(in_ch, out_ch)), ("pool", nn.MaxPool2d(2)), ("bn1", _bn(out_ch, momentum)), ("act1", act()),
        ("conv2", _conv(out_ch, out_ch)), ("bn2", _bn(out_ch, momentum)), ("act2", act())]))


class CifarFast(nn.Module):
    def __init__(self, cfg: CifarFastConfig = CifarFastConfig()) -> None:
        super().__init__()
        side = cfg.image_size - 1                 # the 2x2 stem without padding
        for _ in cfg.widths:
            side //= 2
        if not cfg.widths or side < 1:
            raise LayerlabError(f"{len(cfg.widths)} blocks halve a {cfg.image_size}px image to nothing")
        activations = cfg.activations or ("gelu",) * len(cfg.widths)
        if len(activations) != len(cfg.widths) or not set(activations) <= set(ACTIVATIONS):
            raise LayerlabError(f"activations needs one of {', '.join(ACTIVATIONS)} per block ({len(cfg.widths)}), "
                                f"got {cfg.activations}")
        self.cfg = cfg
        patch = cfg.in_channels * 4
        self.stem = nn.Conv2d(cfg.in_channels, 2 * patch, kernel_size=2)  # set by whiten_from, never trained
        self.stem.weight.requires_grad_(False)
        blocks, in_ch = [], 2 * patch
        for i, (out_ch, activation) in enumerate(zip(cfg.widths, activations), start=1):
            blocks.append((f"block{i}", fast_block(in_ch, out_ch, cfg.bn_momentum, activation)))
            in_ch = out_ch
        self.features = nn.Sequential(OrderedDict(blocks))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.fc = nn.Linear(in_ch, cfg.num_classes, bias=False)
        self.act = ACTIVATIONS[activations[0]]()
        if cfg.stem_bias_epochs is not None and cfg.stem_bias_epochs < 0:
            raise LayerlabError(f"stem_bias_epochs is a number of epochs >= 0 (or None: always learn), got {cfg.stem_bias_epochs}")

    def set_epoch(self, epoch: int) -> None:
        """fit calls this as each epoch starts (1, 2, ...): the stem's bias stops learning after epoch
        `stem_bias_epochs`: its gradient is no longer computed, so the optimizer leaves it (a Lookahead
        average still moves it once, to the slow copy)."""
        limit = self.cfg.stem_bias_epochs
        self.stem.bias.requires_grad_(limit is None or epoch <= limit)

    @torch.no_grad()
    def whiten_from(self, images: Tensor, eps: float = 5e-4) -> Tensor:
        """Set the stem from normalised training images (N, C, H, W): returns the patch covariance's eigenvalues.

        Each 2x2xC patch is a vector of 4C numbers; the eigenvectors V of their covariance, divided by
        sqrt(eigenvalue + eps), map a patch to 4C uncorrelated numbers of variance ~1. The stem holds
        those filters and their negatives (GELU keeps a different half of each).
        """
        c = self.cfg.in_channels
        if images.dim() != 4 or images.shape[1] != c:
            raise LayerlabError(f"whiten_from needs images (N, {c}, H, W), got {tuple(images.shape)}")
        patches = images.float().unfold(2, 2, 1).unfold(3, 2, 1)           # (N, C, H-1, W-1, 2, 2)
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, 4 * c).double()
        values, vectors = torch.linalg.eigh(torch.cov(patches.T))          # ascending eigenvalues
        filters = (vectors.T / torch.sqrt(values.clamp_min(0) + eps).unsqueeze(1)).view(4 * c, c, 2, 2)
        self.stem.weight.copy_(torch.cat([filters, -filters]).to(self.stem.weight))
        self.stem.bias.zero_()
        return values.float()

    def forward_features(self, x: Tensor) -> Tensor:  # x: (B, 3, 32, 32)
        return self.features(self.act(self.stem(x)))  # (B, 256, 3, 3)

    def forward_head(self, features: Tensor) -> Tensor:  # features: (B, 256, 3, 3)
        return self.fc(self.pool(features).flatten(1)) * self.cfg.logit_scale  # (B, classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model("cifar-fast", input_shape=(3, 32, 32), num_params=1_972_792,
                description="the course's block net as the fast CIFAR-10 trainers build it: whitened 2x2 stem, "
                            "pool-first blocks, GELU, 1/9 logits")
def cifar_fast(**overrides: Any) -> CifarFast:
    for key in ("widths", "activations"):  # the CLI and model.json pass lists; the config is frozen
        if key in overrides:
            overrides[key] = tuple(overrides[key])
    return CifarFast(CifarFastConfig(**overrides))
