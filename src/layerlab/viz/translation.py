"""Figures for translation: an attention heat-map per sentence, and two models' training curves.

The heat-map's rows are the words the decoder wrote, its columns the source words it could look
at; row t is α_t, the weights that built the context vector for output word t (each row sums to 1).
Hangul labels use NanumGothic (viz.style), named on the labels themselves, so the figure renders
the same whatever matplotlib's global settings are.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from layerlab.viz.style import LATIN_FONT, korean_font_name, new_figure


def plot_attention(weights: Tensor, source: Sequence[str], output: Sequence[str], title: str) -> Any:
    """weights (len(output), len(source)): row t says where the decoder looked to write output[t]."""
    fonts = [LATIN_FONT, korean_font_name()]       # Latin from DejaVu, Hangul from NanumGothic
    rows, cols = weights.shape
    fig, axes = new_figure(1, 1, size=(2.0 + 0.6 * cols, 1.6 + 0.42 * rows))
    ax = axes[0, 0]
    image = ax.imshow(weights.float().numpy(), cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(cols), list(source), rotation=45, ha="right", fontfamily=fonts, fontsize=10)
    ax.set_yticks(range(rows), list(output), fontfamily=fonts, fontsize=10)
    ax.set_xlabel("source word (encoder state h_j)")
    ax.set_ylabel("output word (decoder step t)")
    ax.set_title(title, fontfamily=fonts, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, label="attention weight α_tj")
    return fig


def plot_compared_histories(histories: dict[str, Sequence[dict[str, Any]]], title: str) -> Any:
    """Loss and next-token accuracy per epoch for several models: solid train, dashed held-out."""
    fig, grid = new_figure(1, 2, size=(10.0, 3.8))
    axes = grid[0]
    for i, (name, rows) in enumerate(histories.items()):
        epochs = [r["epoch"] for r in rows]
        colour = f"C{i}"
        for ax, key in zip(axes, ("loss", "accuracy")):
            for split, style in (("train", "-"), ("val", "--"), ("test", "--")):
                values = [r.get(f"{split}_{key}") for r in rows]
                if all(v is not None for v in values):
                    label = f"{name}, {'train' if split == 'train' else 'held-out ' + split}"
                    ax.plot(epochs, values, style, color=colour, marker="o", markersize=3, label=label)
    for ax, key in zip(axes, ("cross-entropy per target token", "next-token accuracy (teacher forcing)")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return fig
