"""Figures of autoencoders and VAEs: image rows, a 2-D latent space, per-class errors, decoded grids.

Pure functions from tensors to pyplot-free matplotlib Figures (viz.style.new_figure); the caller
saves them (RunDir.save_figure). Images are (N, 1, H, W), floats in [0, 1] or uint8.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
from torch import Tensor

from layerlab.viz.style import new_figure

if TYPE_CHECKING:  # only for annotations: matplotlib is imported lazily
    from matplotlib.figure import Figure


def _grey(image: Tensor) -> Tensor:
    """One (1, H, W) image as an (H, W) float array in [0, 1]."""
    image = image.float() / 255.0 if not image.dtype.is_floating_point else image.float()
    return image[0].clamp(0, 1)


def image_rows(rows: dict[str, Tensor], title: str) -> Figure:
    """One row of images per entry (name -> (N, 1, H, W)), the name at the row's left: originals above
    their reconstructions, or noisy / denoised / clean."""
    columns = max(len(images) for images in rows.values())
    fig, axes = new_figure(len(rows), columns, (columns * 1.0, len(rows) * 1.15))
    for r, (name, images) in enumerate(rows.items()):
        for c in range(columns):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(images):
                ax.imshow(_grey(images[c]).numpy(), cmap="gray", vmin=0, vmax=1)
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.suptitle(title)
    return fig


def latent_scatter(codes: Tensor, labels: Tensor, classes: Sequence[str], title: str) -> Figure:
    """Each image's 2-number code (N, 2) as a point coloured by its class (never seen in training)."""
    fig, axes = new_figure(1, 1, (6.4, 5.6))
    ax = axes[0, 0]
    for k, name in enumerate(classes):
        chosen = labels == k
        ax.scatter(codes[chosen, 0].numpy(), codes[chosen, 1].numpy(), s=2, alpha=0.5, color=f"C{k % 10}", label=name)
    ax.legend(markerscale=5, fontsize=7, loc="best")
    ax.set_xlabel("code 1 (z₁)")
    ax.set_ylabel("code 2 (z₂)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return fig


def per_class_bars(values: dict[str, float], title: str, ylabel: str) -> Figure:
    """One bar per class: which digits the autoencoder redraws worst."""
    fig, axes = new_figure(1, 1, (6.4, 3.6))
    ax = axes[0, 0]
    names = list(values)
    ax.bar(range(len(names)), [values[n] for n in names], color="C0")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30 if max(map(len, names)) > 2 else 0, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    return fig


def image_grid(images: Tensor, columns: int, title: str, *, axis_values: Tensor | None = None) -> Figure:
    """Images (R·C, 1, H, W) row by row as one mosaic. With `axis_values` (C,), the columns are labelled
    z₁ and the rows z₂ (top row = largest): a 2-number VAE's decoder drawn over its latent plane."""
    rows = -(-len(images) // columns)
    h, w = images.shape[-2:]
    mosaic = torch.zeros(rows * h, columns * w)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        mosaic[r * h : (r + 1) * h, c * w : (c + 1) * w] = _grey(image)
    fig, axes = new_figure(1, 1, (0.5 * columns + 1.2, 0.5 * rows + 1.0))
    ax = axes[0, 0]
    ax.imshow(mosaic.numpy(), cmap="gray", vmin=0, vmax=1)
    if axis_values is None:
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        ticks = [f"{v:.1f}" for v in axis_values.tolist()]
        ax.set_xticks([c * w + w / 2 for c in range(columns)], ticks, fontsize=6, rotation=90)
        ax.set_yticks([r * h + h / 2 for r in range(rows)], ticks[::-1], fontsize=6)
        ax.set_xlabel("z₁")
        ax.set_ylabel("z₂")
    ax.set_title(title)
    return fig
