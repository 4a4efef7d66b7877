"""Fully convolutional networks (Long, Shelhamer & Darrell, 2015). Course unit: semantic segmentation
(convolutionalization and deconvolution, course note 004).

What to notice, in the order of the course note:

1. Convolutionalization. A classifier's first Linear layer reads a C x k x k block of feature maps,
   flattened; a k x k convolution with C input channels reads the same block. The two are the
   same weights in another shape: Linear(C·k·k, n).weight (n, C·k·k) -> Conv2d(C, n, k).weight
   (n, C, k, k). The Linears after it read one vector: they are 1x1 convolutions.
   `convolutionalize(classifier)` does exactly this. On the training size (32x32 for cifar-cnn)
   the logits are unchanged (a 1x1 "map"); on a larger image the net slides over it and gives a
   score map: one score per class for every step of 2^blocks pixels (64x64 -> features 8x8 ->
   the 4x4 fc1 conv fits (8 - 4)/1 + 1 = 5 times a side -> a 5x5 map).
2. Deconvolution (transposed convolution) back to pixels. ConvTranspose2d(kernel 2s, stride s,
   padding s/2) multiplies a side by s: (N - 1)·s - 2·(s/2) + 2s = N·s. Its weights start as
   bilinear interpolation (`bilinear_kernel`); the 2x ones then learn, the last one stays fixed,
   as in the paper's reference nets.
3. Skips ("what" meets "where"). The scores at stride 32 are coarse: FCN-32s blows them up 32x
   in one step. FCN-16s first upsamples them 2x and adds the scores a 1x1 conv reads off pool4
   (stride 16); FCN-8s does it once more with pool3 (stride 8) and upsamples only 8x at the end.

The backbone is five of the course's basic blocks (conv 3x3 -> ReLU -> conv 3x3 -> ReLU ->
max-pool; BN before each ReLU here, for the CPU) with small widths, then fc6 (a 3x3 conv; VGG16's
was 7x7 over 512 maps, 4096 wide) and fc7 (1x1), which are the classifier's FC layers already
convolutionalized. Input sides must be multiples of 32 (five poolings); the paper pads its input
by 100 pixels and crops instead.

Parameters at the defaults (widths 8, 16, 32, 64, 128; fc 128; 4 classes), by hand
(conv c_in·9·c_out + c_out, BN 2·c_out):
    blocks  3→8→8: 224 + 16 + 584 + 16 = 840             8→16→16: 1,168 + 32 + 2,320 + 32 = 3,552
            16→32→32: 4,640 + 64 + 9,248 + 64 = 14,016   32→64→64: 18,496 + 128 + 36,928 + 128 = 55,680
            64→128→128: 73,856 + 256 + 147,584 + 256 = 221,952                     five blocks: 296,040
    fc6 128·9·128 + 128 + BN 256 = 147,840   fc7 128·128 + 128 + BN 256 = 16,768   score_fr 128·4 + 4 = 516
    backbone 461,164; upsampling 4·4·k·k, no bias (k = 2·factor); score_pool4 64·4 + 4, score_pool3 32·4 + 4
    fcn-32s 461,164 + upscore 65,536 = 526,700
    fcn-16s 461,164 + score_pool4 260 + upscore2 256 + upscore16 16,384 = 478,064
    fcn-8s  461,164 + 260 + 256 + score_pool3 132 + upscore_pool4 256 + upscore8 4,096 = 466,164
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from layerlab.errors import LayerlabError
from layerlab.models.layers import vgg_block
from layerlab.models.registry import register_model

STRIDES = (32, 16, 8)      # FCN-32s, FCN-16s, FCN-8s: the stride of the finest scores that are fused


# ---------------------------------------------------------------------------------------------
# 1. Convolutionalization: a trained classifier becomes a net that outputs score maps
# ---------------------------------------------------------------------------------------------

def convolutionalize(classifier: nn.Module, image_size: int) -> nn.Sequential:
    """A copy of `classifier` with every Linear turned into a Conv2d holding the same weights.

    `classifier` has `features` (convs and pools) and `classifier` (Linear, ReLU, Dropout): the
    course's cifar-cnn or a VGG. `image_size` is the side it was trained on: there its features
    are C x k x k, the first Linear reads those C·k·k numbers and becomes a k x k conv; every later
    Linear becomes a 1x1 conv. A VGG's adaptive average pool is left out (at 224 it passes 7x7 maps
    unchanged). Returns Sequential(features, classifier-as-convs): logits (B, n, 1, 1) on the
    training size, a score map (B, n, h, w) on a larger image.
    """
    first_conv = next(m for m in classifier.features.modules() if isinstance(m, nn.Conv2d))
    with torch.no_grad():
        probe = torch.zeros(1, first_conv.in_channels, image_size, image_size)
        channels, k, k_w = classifier.features(probe).shape[1:]               # (C, k, k): cifar-cnn 256, 4, 4
    linears = [m for m in classifier.classifier if isinstance(m, nn.Linear)]
    if not linears or linears[0].in_features != channels * k * k_w:
        raise LayerlabError(f"the first Linear reads {linears[0].in_features if linears else 0} numbers but the features "
                            f"give {channels}x{k}x{k_w} = {channels * k * k_w} at {image_size}x{image_size}; "
                            "convolutionalize at the size the classifier was trained on")
    layers: list[tuple[str, nn.Module]] = []
    for name, layer in classifier.classifier.named_children():
        if isinstance(layer, nn.Linear):
            first = layer is linears[0]
            c_in, kernel = (channels, k) if first else (layer.in_features, 1)
            # built empty (no random initialisation: every number is overwritten just below)
            conv = nn.Conv2d(c_in, layer.out_features, kernel_size=kernel, device="meta", dtype=layer.weight.dtype)
            conv = conv.to_empty(device=layer.weight.device)
            with torch.no_grad():      # the same numbers, reshaped: (n, C·k·k) -> (n, C, k, k)
                conv.weight.copy_(layer.weight.reshape(layer.out_features, c_in, kernel, kernel))
                conv.bias.copy_(layer.bias)
            layers.append((name, conv))
        else:
            layers.append((name, copy.deepcopy(layer)))                       # ReLU, Dropout: unchanged
    return nn.Sequential(OrderedDict([("features", copy.deepcopy(classifier.features)),
                                      ("classifier", nn.Sequential(OrderedDict(layers)))]))


# ---------------------------------------------------------------------------------------------
# 2. Deconvolution: transposed convs that start as bilinear interpolation
# ---------------------------------------------------------------------------------------------

def bilinear_kernel(size: int) -> Tensor:
    """The size x size bilinear interpolation filter (the paper's `upsample_filt`): a tent of
    height 1 at the centre falling linearly to 0, e.g. size 4: [0.25, 0.75, 0.75, 0.25] per axis."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    tent = 1 - (torch.arange(size, dtype=torch.float32) - center).abs() / factor
    return tent[:, None] * tent[None, :]                                       # outer product: (size, size)


def upsampler(channels: int, factor: int, *, learnable: bool = True) -> nn.ConvTranspose2d:
    """ConvTranspose2d that multiplies each side by `factor`, bilinear on each channel (no mixing).

    kernel 2f, stride f, padding f/2: (N - 1)·f - 2·(f/2) + 2f = N·f.
    """
    up = nn.ConvTranspose2d(channels, channels, kernel_size=2 * factor, stride=factor, padding=factor // 2, bias=False)
    with torch.no_grad():
        up.weight.zero_()                                                      # (C_in, C_out, 2f, 2f)
        for c in range(channels):
            up.weight[c, c] = bilinear_kernel(2 * factor)                      # class c only feeds class c
    up.weight.requires_grad_(learnable)
    return up


# ---------------------------------------------------------------------------------------------
# 3. FCN-32s, -16s, -8s
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FCNConfig:
    stride: int = 8                                   # 32, 16 or 8: FCN-32s, FCN-16s, FCN-8s
    in_channels: int = 3
    num_classes: int = 4                              # background + circle, square, triangle (the shapes set)
    widths: tuple[int, ...] = (8, 16, 32, 64, 128)    # the five blocks (VGG16: 64, 128, 256, 512, 512)
    fc_width: int = 128                               # fc6 and fc7 as convs (VGG16: 4096)
    fc_kernel: int = 3                                # fc6's kernel, padded to keep the size (VGG16: 7, unpadded)
    batch_norm: bool = True                           # not in the paper (2015 VGG had none); trains faster on a CPU
    dropout: float = 0.0                              # after fc6 and fc7 (the paper: 0.5)


class FCN(nn.Module):
    """features.block1..block5 (pool1..pool5), fc6, fc7, score_fr, then the skips of cfg.stride, then upscore."""

    def __init__(self, cfg: FCNConfig = FCNConfig()) -> None:
        super().__init__()
        if cfg.stride not in STRIDES:
            raise LayerlabError(f"FCN stride must be 32, 16 or 8 (FCN-32s, -16s, -8s), got {cfg.stride}")
        if len(cfg.widths) != 5:
            raise LayerlabError(f"an FCN has five blocks (pool1..pool5); widths has {len(cfg.widths)}: {cfg.widths}")
        self.cfg = cfg
        blocks, c_in = [], cfg.in_channels
        for i, width in enumerate(cfg.widths, start=1):
            blocks.append((f"block{i}", vgg_block(c_in, width, width, batch_norm=cfg.batch_norm)))
            c_in = width
        self.features = nn.Sequential(OrderedDict(blocks))
        self.fc6 = self._fc(cfg.widths[-1], cfg.fc_kernel)
        self.fc7 = self._fc(cfg.fc_width, 1)
        classes = cfg.num_classes
        self.score_fr = nn.Conv2d(cfg.fc_width, classes, kernel_size=1)          # a score per class at stride 32
        if cfg.stride <= 16:
            self.upscore2 = upsampler(classes, 2)                                 # stride 32 -> 16, learned
            self.score_pool4 = self._score(cfg.widths[3])
        if cfg.stride == 8:
            self.upscore_pool4 = upsampler(classes, 2)                            # stride 16 -> 8, learned
            self.score_pool3 = self._score(cfg.widths[2])
        self.upscore = upsampler(classes, cfg.stride, learnable=False)           # back to pixels, fixed bilinear

    def _fc(self, c_in: int, kernel: int) -> nn.Sequential:
        """A fully connected layer as a conv (convolutionalized): conv -> [BN] -> ReLU -> [Dropout]."""
        layers: list[nn.Module] = [nn.Conv2d(c_in, self.cfg.fc_width, kernel_size=kernel, padding=kernel // 2)]
        layers += [nn.BatchNorm2d(self.cfg.fc_width)] if self.cfg.batch_norm else []
        layers += [nn.ReLU(inplace=True)] + ([nn.Dropout2d(self.cfg.dropout)] if self.cfg.dropout else [])
        return nn.Sequential(*layers)

    def _score(self, c_in: int) -> nn.Conv2d:
        """1x1 class scores of a pool's features, zero at the start (the paper): the net begins as the coarser one."""
        score = nn.Conv2d(c_in, self.cfg.num_classes, kernel_size=1)
        nn.init.zeros_(score.weight)
        nn.init.zeros_(score.bias)
        return score

    def forward(self, x: Tensor) -> Tensor:                   # x: (B, 3, H, W), H and W multiples of 32
        self._check(x)
        x = self.features.block1(x)                           # (B, 8, H/2, W/2)     pool1
        x = self.features.block2(x)                           # (B, 16, H/4, W/4)    pool2
        pool3 = self.features.block3(x)                       # (B, 32, H/8, W/8)    pool3
        pool4 = self.features.block4(pool3)                   # (B, 64, H/16, W/16)  pool4
        x = self.features.block5(pool4)                       # (B, 128, H/32, W/32) pool5
        x = self.fc7(self.fc6(x))                             # (B, 128, H/32, W/32) the FC layers as convs
        scores = self.score_fr(x)                             # (B, K, H/32, W/32)   "what", coarse
        if self.cfg.stride <= 16:                             # fuse_pool4: 2x up + pool4's scores
            scores = self.upscore2(scores) + self.score_pool4(pool4)          # (B, K, H/16, W/16)
        if self.cfg.stride == 8:                              # fuse_pool3: 2x up + pool3's scores
            scores = self.upscore_pool4(scores) + self.score_pool3(pool3)     # (B, K, H/8, W/8)
        return self.upscore(scores)                           # (B, K, H, W): x stride, bilinear

    def _check(self, x: Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.cfg.in_channels:
            raise LayerlabError(f"FCN expects images (B, {self.cfg.in_channels}, H, W), got {tuple(x.shape)}")
        if x.shape[-2] % 32 or x.shape[-1] % 32:
            raise LayerlabError(f"FCN input sides must be multiples of 32 (five 2x2 poolings), got "
                                f"{x.shape[-2]}x{x.shape[-1]}; pad or crop the image (e.g. to "
                                f"{-(-x.shape[-2] // 32) * 32}x{-(-x.shape[-1] // 32) * 32})")


# ---------------------------------------------------------------------------------------------
# Registered variants (the same backbone; they differ in which pools are fused)
# ---------------------------------------------------------------------------------------------

def _fcn(stride: int, overrides: dict[str, Any]) -> FCN:
    for key in ("widths",):                                   # the CLI passes lists; the config is frozen
        if key in overrides:
            overrides[key] = tuple(overrides[key])
    return FCN(FCNConfig(**{"stride": stride, **overrides}))


@register_model("fcn-32s", input_shape=(3, 64, 64), num_params=526_700, task="segmentation",
                description="FCN-32s on a small VGG-style backbone: stride-32 scores upsampled 32x (bilinear, fixed)")
def fcn_32s(**overrides: Any) -> FCN:
    return _fcn(32, overrides)


@register_model("fcn-16s", input_shape=(3, 64, 64), num_params=478_064, task="segmentation",
                description="FCN-16s: stride-32 scores up 2x + pool4's 1x1 scores, then up 16x")
def fcn_16s(**overrides: Any) -> FCN:
    return _fcn(16, overrides)


@register_model("fcn-8s", input_shape=(3, 64, 64), num_params=466_164, task="segmentation",
                description="FCN-8s: FCN-16s's fused scores up 2x + pool3's 1x1 scores, then up 8x")
def fcn_8s(**overrides: Any) -> FCN:
    return _fcn(8, overrides)
