"""Segmentation figures: image / truth / prediction / errors per slice, and what the elastic warp does.

Pure functions from tensors to a matplotlib Figure (viz.style.new_figure); the caller saves it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
from torch import Tensor

from layerlab.data.transforms import random_elastic
from layerlab.viz.style import new_figure

if TYPE_CHECKING:  # only for annotations: matplotlib is imported lazily
    from matplotlib.figure import Figure


def error_overlay(image: Tensor, truth: Tensor, predicted: Tensor, positive: int = 1) -> Tensor:
    """The gray image (1, H, W) uint8 as RGB floats (H, W, 3) in [0, 1] with the mistakes painted:
    red = `positive` predicted where the truth says otherwise (false positive), blue = missed."""
    rgb = (image[0].float() / 255).unsqueeze(-1).repeat(1, 1, 3)              # (H, W, 3)
    false_pos = (predicted == positive) & (truth != positive)
    false_neg = (predicted != positive) & (truth == positive)
    rgb[false_pos] = torch.tensor([1.0, 0.1, 0.1])
    rgb[false_neg] = torch.tensor([0.1, 0.4, 1.0])
    return rgb


def plot_segmentations(images: Tensor, truths: Tensor, predictions: Tensor, names: Sequence[str], *,
                       classes: Sequence[str] = ("cell", "membrane"), positive: int = 1,
                       title: str = "Held-out slices") -> Figure:
    """One row per slice: image, true mask, predicted mask, errors (red: false `positive`, blue: missed).

    images: (N, 1, H, W) uint8; truths and predictions: (N, H, W) class ids.
    """
    n = len(images)
    fig, axes = new_figure(n, 4, (12, 3.1 * n))
    headers = ("image", f"truth (white = {classes[positive]})", "prediction",
               f"errors: red = false {classes[positive]}, blue = missed")
    for i in range(n):
        wrong = float((predictions[i] != truths[i]).float().mean())
        panels = (images[i, 0].float() / 255, (truths[i] == positive).float(), (predictions[i] == positive).float(),
                  error_overlay(images[i], truths[i], predictions[i], positive))
        for j, (ax, panel) in enumerate(zip(axes[i], panels)):
            ax.imshow(panel.numpy(), cmap="gray", vmin=0, vmax=1)
            ax.axis("off")
            ax.set_title(f"{names[i]}: {headers[j]}" if j == 0 else headers[j] if j < 3 else
                         f"{wrong:.1%} of pixels wrong", fontsize=8)
    fig.suptitle(title)
    return fig


def plot_elastic(image: Tensor, mask: Tensor, *, grid: int = 3, sigma: float = 10.0, seed: int = 0,
                 spacing: int = 32) -> Figure:
    """One slice (1, H, W) uint8 and its mask (H, W) before and after random_elastic, with a line grid
    drawn on a copy so the smooth displacement field shows; the mask follows the same field."""
    lines = image.clone()
    lines[:, ::spacing, :] = 255                                               # a white line every `spacing` px
    lines[:, :, ::spacing] = 255
    both = torch.cat([image, lines])[None]                                     # (1, 2, H, W): one field for both channels
    warp = random_elastic(grid=grid, sigma=sigma, targets="mask")
    warped, moved = warp(both, mask[None], torch.Generator().manual_seed(seed))   # (1, 2, H, W), (1, H, W)
    fig, axes = new_figure(2, 3, (10, 7))
    panels = [(lines[0], "slice with a grid"), (mask, "mask (white = membrane)"), (image[0], "slice"),
              (warped[0, 1], f"warped ({grid}x{grid} control points, σ = {sigma:g} px)"),
              (moved[0], "mask through the same field (nearest)"), (warped[0, 0], "warped slice")]
    for ax, (panel, label) in zip(axes.flat, panels):
        ax.imshow(panel.float().numpy(), cmap="gray")
        ax.axis("off")
        ax.set_title(label, fontsize=9)
    fig.suptitle("Elastic deformation (U-Net paper): a smooth random warp; image and mask move together")
    return fig
