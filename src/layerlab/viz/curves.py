"""Figures from numbers: training curves, confusion matrices, predicted-vs-true scatter.

Pure functions returning a matplotlib Figure; the caller saves it (RunDir.save_figure).
matplotlib is imported inside each function so `import layerlab` stays fast and headless.
"""

from __future__ import annotations

from typing import Any, Sequence

from torch import Tensor


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_history(rows: Sequence[dict[str, Any]], title: str = "Training curves") -> Any:
    """Loss (left) and the main metric (right) per epoch, train vs validation."""
    plt = _plt()
    metric = next((m for m in ("accuracy", "rmse", "mae") if any(f"train_{m}" in r for r in rows)), None)
    fig, axes = plt.subplots(1, 2 if metric else 1, figsize=(10 if metric else 5, 3.6), squeeze=False)
    epochs = [r["epoch"] for r in rows]
    for ax, key in zip(axes[0], ["loss"] + ([metric] if metric else [])):
        for split, style in (("train", "-o"), ("val", "-s"), ("test", "-^")):
            values = [r.get(f"{split}_{key}") for r in rows]
            if any(v is not None for v in values):
                ax.plot(epochs, values, style, markersize=3, label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion(matrix: Tensor, classes: Sequence[str], title: str = "Confusion matrix") -> Any:
    """Rows: true class; columns: predicted class; the diagonal holds the correct answers."""
    plt = _plt()
    n = len(classes)
    fig, ax = plt.subplots(figsize=(0.55 * n + 2.5, 0.55 * n + 2))
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
    fig.tight_layout()
    return fig


def plot_predicted_vs_true(predicted: Tensor, true: Tensor, unit: str = "", title: str = "Predicted vs true") -> Any:
    """Points on the diagonal are perfect predictions; the spread around it is the error."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    p, t = predicted.flatten().numpy(), true.flatten().numpy()
    ax.scatter(t, p, s=8, alpha=0.5)
    low, high = float(min(p.min(), t.min())), float(max(p.max(), t.max()))
    ax.plot([low, high], [low, high], "k--", linewidth=1, label="perfect")
    ax.set_xlabel(f"true {unit}".strip())
    ax.set_ylabel(f"predicted {unit}".strip())
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_lines(x: Tensor, curves: dict[str, Tensor], title: str, xlabel: str = "x", ylabel: str = "y") -> Any:
    """Several named curves over the same x (e.g. sin, the initial and the fitted cubic)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, y in curves.items():
        ax.plot(x.numpy(), y.detach().numpy(), label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
