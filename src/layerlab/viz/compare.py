"""Two or more training runs in one figure, so a difference between them is seen at a glance.

Used by resnet-cifar (with vs without skip connections) and transfer-vgg16 (transfer vs scratch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from layerlab.viz.style import new_figure

if TYPE_CHECKING:  # only for annotations: matplotlib is imported lazily
    from matplotlib.figure import Figure


def plot_runs(runs: Mapping[str, Sequence[dict[str, Any]]], keys: Sequence[str] = ("train_loss", "val_accuracy"),
              title: str = "Training curves") -> Figure:
    """One panel per metric key (e.g. train loss, val accuracy), one line per named run, per epoch."""
    from matplotlib.ticker import MaxNLocator

    fig, axes = new_figure(1, len(keys), (5 * len(keys), 3.6))
    for ax, key in zip(axes[0], keys):
        for (name, rows), marker in zip(runs.items(), "osd^v"):
            points = [(r["epoch"], r[key]) for r in rows if r.get(key) is not None]
            if points:
                ax.plot(*zip(*points), f"-{marker}", markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))   # epoch 1, 2, 3, never 2.5
        ax.set_ylabel(key.replace("_", " "))
        ax.set_title(key.replace("_", " "))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return fig
