"""The U-Net paper's weighted loss (Ronneberger et al. 2015, eq. 2): thin membranes between two cells weigh more.

A net trained with plain per-pixel cross-entropy may leave a one-pixel gap in a thin membrane: it
costs a handful of pixels, but it merges two cells into one region, and the region metrics (the
adapted Rand F-score) punish exactly that. The paper weighs every pixel by

    w(x) = w_c(x) + w0 · exp(-(d1(x) + d2(x))² / (2σ²))

where d1 and d2 are the distances from x to the nearest and the second-nearest cell (w0 = 10,
σ ≈ 5 px), and w_c balances the class frequencies. The border term is large only where two cells
come close: the thin membranes that separate touching cells.

Distances: a square window grows around each pixel, one pixel a side per step (a 3x3 max-pool of
the cell labels, and a 3x3 min-pool); the first half-side r at which it holds a cell is d1, the
first at which it holds two different cells is d2. These are Chebyshev distances, within a factor
√2 of the Euclidean ones. Only the cell labelling leaves torch (scipy, one image at a time), so a
batch of 256x256 masks costs milliseconds, cheap enough to compute on every augmented crop inside
the loss (the warp moves the membranes).

Measured on the ISBI held-out block (`unet-membrane --border-weight 10`, seed 0): validation Rand F
rose (best 0.790 against 0.718) but the held-out Rand F fell (0.800 against 0.922), with pixel
accuracy 0.897 against 0.921: the weight pushes the net towards membrane everywhere, since almost
every ISBI membrane is thin. Hence an option, off by default.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerlab.engine.segmentation_metrics import connected_regions
from layerlab.errors import LayerlabError


def border_weights(masks: Tensor, *, region_class: int = 0, w0: float = 10.0, sigma: float = 5.0,
                   class_weights: tuple[float, float] = (1.0, 1.0)) -> Tensor:
    """The weight of every pixel of a batch of masks (B, H, W): class_weights[0] on region (cell) pixels,
    class_weights[1] + the border term on the others (membrane)."""
    labels = torch.from_numpy(np.stack([connected_regions(m, region_class) for m in masks.cpu().numpy()]))
    labels = labels.to(torch.float32).unsqueeze(1)                     # (B, 1, H, W): cells 1, 2, ...; membrane 0
    outside = labels == 0
    none = float(labels.max()) + 1
    d1 = torch.where(outside, torch.inf, 0.0)                          # Chebyshev distance to the nearest cell
    d2 = torch.full_like(labels, torch.inf)                            # ... and to the second-nearest
    high, low = labels, torch.where(outside, none, labels)             # membrane must not win the minimum
    for r in range(1, math.ceil(3 * sigma) + 1):                       # beyond d1 + d2 = 3σ the term is < 0.012 w0
        high = _grow(high, torch.maximum, 0.0)                         # the largest cell label within r
        low = _grow(low, torch.minimum, none)                          # the smallest
        d1 = torch.where((high > 0) & d1.isinf(), float(r), d1)
        d2 = torch.where((high > low) & (low < none) & d2.isinf(), float(r), d2)
    border = w0 * torch.exp(-((d1 + d2) ** 2) / (2 * sigma**2))        # exp(-inf) = 0 where no second cell is near
    weights = torch.where(outside, class_weights[1] + border, class_weights[0])
    return weights.squeeze(1).to(masks.device)


def _grow(x: Tensor, pick, fill: float) -> Tensor:
    """A 3x3 max (or min) filter of x (B, 1, H, W), as two passes of three shifted copies (faster than a pool)."""
    for dim in (-1, -2):
        pad = (1, 1, 0, 0) if dim == -1 else (0, 0, 1, 1)
        p = F.pad(x, pad, value=fill)
        n = x.shape[dim]
        x = pick(pick(p.narrow(dim, 0, n), p.narrow(dim, 1, n)), p.narrow(dim, 2, n))
    return x


class BorderWeightedCrossEntropy(nn.Module):
    """Cross-entropy per pixel weighted by `border_weights` of each target mask, averaged over the weights'
    sum (so a batch of all-one weights gives plain cross-entropy). logits (B, C, H, W), masks (B, H, W)."""

    def __init__(self, *, region_class: int = 0, w0: float = 10.0, sigma: float = 5.0,
                 class_weights: tuple[float, float] = (1.0, 1.0)) -> None:
        super().__init__()
        if w0 < 0 or sigma <= 0:
            raise LayerlabError(f"the border weight needs w0 >= 0 and sigma > 0, got w0={w0}, sigma={sigma}")
        self.options = {"region_class": region_class, "w0": w0, "sigma": sigma, "class_weights": class_weights}

    def forward(self, logits: Tensor, masks: Tensor) -> Tensor:
        per_pixel = F.cross_entropy(logits.float(), masks, reduction="none")        # (B, H, W)
        weights = border_weights(masks, **self.options)
        return (per_pixel * weights).sum() / weights.sum()
