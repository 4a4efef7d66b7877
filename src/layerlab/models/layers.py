"""Blocks shared by two or more models of the zoo, and torchvision's weight initialisation.

What to notice: the course's "basic block" (기본 블록) Conv3x3 → ReLU → Conv3x3 → ReLU → MaxPool
keeps the image size through both convs (padding 1) and halves it in the pool, so three blocks
turn a 32x32 CIFAR image into 4x4 maps. VGG is the same idea repeated, written as data.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn


def conv_bn_relu(in_ch: int, out_ch: int, *, batch_norm: bool = True) -> list[nn.Module]:
    """Conv3x3 (padding 1, size kept) → [BatchNorm] → ReLU, as a list to splice into a Sequential.

    With batch norm the conv's bias is redundant (BN subtracts the mean), but we keep it, as
    torchvision's VGG-BN does, so published weights load.
    """
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_ch))
    layers.append(nn.ReLU(inplace=True))
    return layers


def vgg_block(in_ch: int, out_ch: int, hidden: int, *, batch_norm: bool = False, pool_first: bool = False) -> nn.Sequential:
    """The course's basic block: Conv3x3(in→hidden) → ReLU → Conv3x3(hidden→out) → ReLU → MaxPool2.

    Children are named like the course's `BasicBlock` (conv1, conv2, pool), so its
    state_dict keys read `block1.conv1.weight`. Shapes: (B, in, H, W) -> (B, out, H/2, W/2).
    `pool_first` pools right after conv1 (Conv → MaxPool → [BN] → ReLU → Conv → [BN] → ReLU, the
    block of the fast CIFAR-10 trainers such as airbench): the same weights, but conv2 works on a
    map a quarter the size, so it costs a quarter of the multiply-adds.
    """
    pool = ("pool", nn.MaxPool2d(kernel_size=2, stride=2))  # H, W halve
    parts: list[tuple[str, nn.Module]] = [("conv1", nn.Conv2d(in_ch, hidden, kernel_size=3, padding=1))]
    if pool_first:  # before BN and ReLU too, so they touch a quarter of the values
        parts.append(pool)
    if batch_norm:
        parts.append(("bn1", nn.BatchNorm2d(hidden)))
    parts.append(("relu1", nn.ReLU(inplace=True)))
    parts.append(("conv2", nn.Conv2d(hidden, out_ch, kernel_size=3, padding=1)))
    if batch_norm:
        parts.append(("bn2", nn.BatchNorm2d(out_ch)))
    parts.append(("relu2", nn.ReLU(inplace=True)))
    if not pool_first:
        parts.append(pool)
    return nn.Sequential(OrderedDict(parts))


def init_like_torchvision(model: nn.Module, *, linear_std: float | None) -> None:
    """Initialise as torchvision's VGG and ResNet do.

    Convs: Kaiming normal with fan_out (keeps the gradient scale through ReLU layers), bias 0.
    BatchNorm: weight 1, bias 0 (start as the identity). Linear: normal(0, linear_std) with bias 0
    when `linear_std` is given (VGG uses 0.01), otherwise PyTorch's default (ResNet's choice).
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear_std is not None:
            nn.init.normal_(m.weight, 0.0, linear_std)
            nn.init.zeros_(m.bias)


class FlipAverage(nn.Module):
    """Test-time augmentation: a prediction from an image and its left-right mirror, averaged.

    The class probabilities of both views are averaged, and their log is returned, so anything
    that reads logits (softmax, argmax, cross-entropy) reads the averaged prediction. Both views go
    through the model as one batch of 2B images (one call, better use of the matrix kernels). The
    fast CIFAR-10 trainers (airbench, hlb-CIFAR10) all test this way: a net trained with random
    flips has learned both views, and two opinions err less often than one.

    `shift` > 0 adds four more views, as airbench does: the image moved by `shift` pixels down-right
    and up-left (the border mirrored in), and the mirrors of both. The two plain views then weigh 1/4
    each and the four moved ones 1/8 each (a net trained with crops of ±2 px has seen such moves).
    On cifar-cnn's fast net shift 1 added 0.003 to the flip's accuracy (0.8950 -> 0.8981).
    """

    def __init__(self, model: nn.Module, shift: int = 0) -> None:
        super().__init__()
        self.model, self.shift = model, shift

    def forward(self, x: Tensor) -> Tensor:  # x: (B, C, H, W)
        views = [x, x.flip(-1)]
        if self.shift:
            s = self.shift
            padded = nn.functional.pad(x, (s, s, s, s), mode="reflect")
            moved = [padded[..., : x.shape[-2], : x.shape[-1]], padded[..., 2 * s :, 2 * s :]]
            views += moved + [v.flip(-1) for v in moved]
        probs = self.model(torch.cat(views)).float().softmax(dim=1).view(len(views), len(x), -1)  # (V, B, classes)
        if not self.shift:
            return probs.mean(dim=0).log()  # (B, classes) log of the mean probability
        return (0.25 * probs[:2].sum(dim=0) + 0.125 * probs[2:].sum(dim=0)).log()
