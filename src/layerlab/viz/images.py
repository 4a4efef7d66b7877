"""Image grids: test images with their predicted class and probability."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

from torch import Tensor

from layerlab.viz.style import new_figure

if TYPE_CHECKING:  # only for annotations: matplotlib is imported lazily
    from matplotlib.figure import Figure


def show_predictions(images: Tensor, probs: Tensor, targets: Tensor, classes: Sequence[str],
                     title: str = "Predictions", columns: int = 8) -> Figure:
    """A grid of images titled `predicted (probability)`; red titles are mistakes.

    images: (N, C, H, W) uint8 or float in [0, 1]; probs: (N, num_classes) softmax outputs.
    """
    n = len(images)
    rows = max(1, math.ceil(n / columns))
    confidence, predicted = probs.max(dim=1)
    two_lines = bool((predicted != targets).any())     # a mistake's title has a second line, "true ..."
    # a row is its image, its title and a clear gap above the titles of the row below
    fig, axes = new_figure(rows, columns, (columns * 1.4, rows * (2.0 if two_lines else 1.6)))
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        image = images[i].float()
        image = image if images.dtype.is_floating_point else image / 255.0
        if image.shape[0] == 1:
            ax.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=1)
        else:
            ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy())
        right = int(predicted[i]) == int(targets[i])
        label = f"{classes[int(predicted[i])]} ({confidence[i]:.2f})"
        if not right:
            label += f"\ntrue {classes[int(targets[i])]}"
        ax.set_title(label, fontsize=7, color="black" if right else "red")
    fig.suptitle(title)
    return fig
