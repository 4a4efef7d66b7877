"""Detection figures: proposals on an image, detections with class and score, the SPP bins of one
region, and precision-recall curves. Pure functions from tensors to a matplotlib Figure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
from torch import Tensor

from layerlab.models.detector import feature_windows
from layerlab.viz.style import new_figure

if TYPE_CHECKING:  # only for annotations: matplotlib is imported lazily
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#fabed4", "#469990")


def _show(ax: "Axes", image: Tensor) -> None:
    pixels = image.permute(1, 2, 0).numpy()
    ax.imshow(pixels[..., 0] if pixels.shape[-1] == 1 else pixels, cmap="gray", vmin=0, vmax=255)
    ax.axis("off")


def _box(ax: "Axes", box: Sequence[float], colour: str, width: float = 1.5, style: str = "-") -> None:
    from matplotlib.patches import Rectangle

    x1, y1, x2, y2 = box
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linewidth=width, linestyle=style))


def plot_proposals(image: Tensor, proposals: Tensor, truth: Tensor, *, shown: int = 40, recall: float | None = None) -> "Figure":
    """The first `shown` proposals (thin, best first) and the true boxes (thick, dashed) on one image."""
    fig, axes = new_figure(1, 2, (10, 5.2))
    for ax, count in zip(axes[0], (min(10, len(proposals)), min(shown, len(proposals)))):
        _show(ax, image)
        for i, box in enumerate(proposals[:count].tolist()):
            _box(ax, box, COLOURS[i % len(COLOURS)], 0.8)
        for box in truth.tolist():
            _box(ax, box, "white", 2.2, "--")
        ax.set_title(f"the {count} best proposals (dashed: true boxes)", fontsize=9)
    note = f"; recall@0.5 of all {len(proposals)} on the test set: {recall:.3f}" if recall is not None else ""
    fig.suptitle(f"Sliding windows ranked by objectness{note}", fontsize=10)
    return fig


def plot_detections(images: Tensor, detections: Sequence[dict[str, Tensor]], truths: Sequence[dict[str, Tensor]],
                    classes: Sequence[str], *, min_score: float = 0.5, title: str = "Detections") -> "Figure":
    """Each image with its detections scoring >= min_score (box, class and score) and the true boxes dashed."""
    n = len(images)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = new_figure(rows, cols, (3.2 * cols, 3.4 * rows))
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, image, found, truth in zip(axes.flat, images, detections, truths):
        _show(ax, image)
        for box in truth["boxes"].tolist():
            _box(ax, box, "white", 1.0, "--")
        keep = found["scores"] >= min_score
        for box, score, label in zip(found["boxes"][keep].tolist(), found["scores"][keep].tolist(), found["labels"][keep].tolist()):
            colour = COLOURS[label % len(COLOURS)]
            _box(ax, box, colour, 1.6)
            ax.text(box[0], box[1] - 1, f"{classes[label]} {score:.2f}", color="black", fontsize=7,
                    bbox={"facecolor": colour, "alpha": 0.8, "pad": 1, "linewidth": 0})
    fig.suptitle(f"{title} (score >= {min_score}; dashed: true boxes)", fontsize=10)
    return fig


def plot_spp_bins(image: Tensor, box: Sequence[float], *, stride: int = 4, levels: Sequence[int] = (4, 2, 1),
                  channels: int = 64) -> "Figure":
    """One region's window on the feature map and the bins of each pyramid level over it."""
    import torch

    x1, y1, x2, y2 = feature_windows(torch.tensor([box], dtype=torch.float32), stride, image.shape[1] // stride,
                                     image.shape[2] // stride)[0].tolist()
    h, w = y2 - y1, x2 - x1
    fig, axes = new_figure(1, len(levels), (4 * len(levels), 4.4))
    for ax, n in zip(axes[0], levels):
        _show(ax, image)
        _box(ax, box, "white", 1.0, "--")
        for i in range(n):        # the bins of adaptive max pooling: [floor(i L / n), ceil((i + 1) L / n))
            for j in range(n):
                top, bottom = y1 + (i * h) // n, y1 + -(-(i + 1) * h // n)
                left, right = x1 + (j * w) // n, x1 + -(-(j + 1) * w // n)
                _box(ax, [left * stride, top * stride, right * stride, bottom * stride], COLOURS[(i * n + j) % len(COLOURS)], 1.2)
        ax.set_title(f"{n}x{n} bins: {n * n} x {channels} = {n * n * channels:,} numbers", fontsize=9)
    total = sum(n * n for n in levels)
    fig.suptitle(f"SPP over a {w}x{h}-cell window (stride {stride}): {total} bins x {channels} channels = "
                 f"{total * channels:,} numbers, whatever the window's size", fontsize=10)
    return fig


def plot_pr_curves(curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray, float]]]) -> "Figure":
    """Precision against recall per class at IoU 0.5, one panel per variant: {variant: {class: (recall, precision, AP)}}."""
    fig, axes = new_figure(1, len(curves), (5 * len(curves), 4.2))
    for ax, (variant, per_class) in zip(axes[0], curves.items()):
        for i, (name, (recall, precision, ap)) in enumerate(per_class.items()):
            ax.plot(np.concatenate([[0], recall]), np.concatenate([[1], precision]), color=COLOURS[i % len(COLOURS)],
                    label=f"{name} AP {ap:.3f}", linewidth=1.2)
        ax.set(xlim=(0, 1.01), ylim=(0, 1.02), xlabel="recall", ylabel="precision", title=f"{variant}: precision-recall at IoU 0.5")
        ax.legend(fontsize=7, loc="lower left")
    return fig
