"""Figures from numbers: training curves, confusion matrices, predicted-vs-true scatter.

Pure functions returning a pyplot-free matplotlib Figure (viz.style.new_figure); the caller saves
it (RunDir.save_figure). No backend is chosen or switched, so they draw the same on a headless
machine and in a notebook, whose backend stays the user's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from torch import Tensor

from layerlab.engine.loop import History
from layerlab.viz.style import new_figure

if TYPE_CHECKING:  # only for annotations: matplotlib is imported lazily
    from matplotlib.figure import Figure


def plot_history(history: History | Sequence[dict[str, Any]], title: str = "Training curves", *, x: str = "epoch",
                 log_loss: bool = False) -> Figure:
    """The loss and up to two more measured quantities per epoch, train vs held-out.

    Given a History, the best held-out epoch of each panel is starred, in the direction its metric
    declares (highest accuracy, lowest loss or RMSE): nothing is inferred from a metric's name.
    `x` is the rows' counter ("iteration" for a history logged every N steps); its ticks are whole
    numbers. `log_loss` draws the loss on a log scale (a loss that falls by orders of magnitude).
    """
    from matplotlib.ticker import MaxNLocator

    rows = history.epochs if isinstance(history, History) else list(history)
    directions = history.higher_is_better if isinstance(history, History) else {}
    measured = list(dict.fromkeys(k.split("_", 1)[1] for r in rows for k in r if k.startswith("train_")))
    keys = (["loss"] + [m for m in measured if m != "loss"])[:3] if "loss" in measured or not measured else measured[:3]
    fig, axes = new_figure(1, len(keys), (5 * len(keys), 3.6))
    epochs = [r[x] for r in rows]
    for ax, key in zip(axes[0], keys):
        for split, style in (("train", "-o"), ("val", "-s"), ("test", "-^")):
            values = [r.get(f"{split}_{key}") for r in rows]
            if any(v is not None for v in values):
                ax.plot(epochs, values, style, markersize=3, label=split)
                if split != "train" and key in directions and all(v is not None for v in values):
                    best = max(range(len(values)), key=lambda i: values[i] if directions[key] else -values[i])
                    ax.plot(epochs[best], values[best], "*", markersize=12, color="gold", markeredgecolor="black",
                            label=f"best {split} ({x} {epochs[best]})")
        ax.set_xlabel(x)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(key)
        if log_loss and key == "loss":
            ax.set_yscale("log")
        ax.set_title(key + (" (higher is better)" if directions.get(key) else " (lower is better)" if key in directions else ""))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return fig


def plot_confusion(matrix: Tensor, classes: Sequence[str], title: str = "Confusion matrix") -> Figure:
    """Rows: true class; columns: predicted class; the diagonal holds the correct answers."""
    n = len(classes)
    fig, axes = new_figure(1, 1, (0.55 * n + 2.5, 0.55 * n + 2))
    ax = axes[0, 0]
    image = ax.imshow(matrix.numpy(), cmap="Blues")
    ax.set_xticks(range(n), classes, rotation=45, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    limit = matrix.max().item() / 2
    for i in range(n):
        for j in range(n):
            value = int(matrix[i, j])
            ax.text(j, i, str(value), ha="center", va="center", fontsize=7, color="white" if value > limit else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ax.set_title(title)
    return fig


def plot_predicted_vs_true(predicted: Tensor, true: Tensor, unit: str = "", title: str = "Predicted vs true") -> Figure:
    """Points on the diagonal are perfect predictions; the spread around it is the error."""
    fig, axes = new_figure(1, 1, (4.8, 4.5))
    ax = axes[0, 0]
    p, t = predicted.flatten().numpy(), true.flatten().numpy()
    ax.scatter(t, p, s=8, alpha=0.5)
    low, high = float(min(p.min(), t.min())), float(max(p.max(), t.max()))
    ax.plot([low, high], [low, high], "k--", linewidth=1, label="perfect")
    ax.set_xlabel(f"true {unit}".strip())
    ax.set_ylabel(f"predicted {unit}".strip())
    ax.set_title(title)
    ax.legend()
    return fig


def plot_lines(x: Tensor, curves: dict[str, Tensor], title: str, xlabel: str = "x", ylabel: str = "y", *,
               ylim: tuple[float, float] | None = None) -> Figure:
    """Several named curves over the same x (e.g. sin, the initial and the fitted cubic); `ylim`
    keeps the axis on the data when one curve (a random start) would squash the others."""
    fig, axes = new_figure(1, 1, (6, 4))
    ax = axes[0, 0]
    for label, y in curves.items():
        ax.plot(x.numpy(), y.detach().numpy(), label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig
