"""Figures for text recognition with CTC: what the model read, and where along the image it read it.

`plot_readings` shows images with the predicted text above the true one, wrong ones framed in
red and their wrong characters marked. `plot_alignment` puts the per-column best class (the
greedy path: "-" for the blank) under one image, column by column, so one sees that CTC learned
*where* each character is although it was only ever told *which* characters there are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from layerlab.viz.style import new_figure


def _marked(predicted: str, truth: str) -> str:
    """The prediction with each character that differs from the truth at its position bracketed: 2[x]6md."""
    return "".join(ch if i < len(truth) and truth[i] == ch else f"[{ch}]" for i, ch in enumerate(predicted)) or "(nothing)"


def plot_readings(images: Tensor, predicted: Sequence[str], truths: Sequence[str], *, title: str,
                  columns: int = 4) -> Any:
    """Images (N, 1, H, W) uint8 with 'read: … / true: …' under each; misread ones framed in red."""
    rows = -(-len(images) // columns)
    fig, axes = new_figure(rows, columns, size=(3.2 * columns, 1.35 * rows + 0.6))
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= len(images):
            ax.set_axis_off()
            continue
        ax.imshow(images[k, 0].numpy(), cmap="gray", vmin=0, vmax=255)
        right = predicted[k] == truths[k]
        colour = "tab:green" if right else "tab:red"
        ax.set_xlabel(f"read: {predicted[k] if right else _marked(predicted[k], truths[k])}   true: {truths[k]}",
                      color=colour, fontsize=10, fontfamily="monospace")
        for spine in ax.spines.values():
            spine.set_edgecolor(colour)
            spine.set_linewidth(1 if right else 3)
    fig.suptitle(title)
    return fig


def plot_alignment(image: Tensor, path: Sequence[str], probabilities: Tensor, *, title: str) -> Any:
    """One image (1, H, W) uint8 over its per-column best classes `path` (T labels, "-" = blank) and
    their probabilities (T,): each column's letter sits under the image strip that column reads."""
    fig, axes = new_figure(2, 1, size=(max(8.0, 0.22 * len(path)), 3.6))
    top, bottom = axes[0, 0], axes[1, 0]
    width = image.shape[-1]
    top.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=255, extent=(0, width, image.shape[-2], 0), aspect="auto")
    top.set_yticks([])
    top.set_title(title)
    step = width / len(path)
    for t, (symbol, p) in enumerate(zip(path, probabilities.tolist())):
        centre = (t + 0.5) * step
        blank = symbol == "-"
        bottom.bar(centre, p, width=step * 0.9, color="lightgray" if blank else "tab:blue")
        bottom.text(centre, 1.04, symbol, ha="center", va="bottom", fontsize=9, fontfamily="monospace",
                    color="gray" if blank else "black", fontweight="normal" if blank else "bold")
        if not blank:
            top.axvline(centre, color="tab:blue", alpha=0.5, linewidth=1)
    bottom.set_xlim(0, width)
    top.set_xlim(0, width)
    bottom.set_ylim(0, 1.25)
    bottom.set_xlabel(f"column (time step) of {len(path)}: each reads {step:g} px of the image's width")
    bottom.set_ylabel("probability of the best class")
    return fig
