"""A GAN run's pictures: sample grids, their progression over epochs, the game's curves, the judge's verdict."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from torch import Tensor

from layerlab.tasks.gan import tile
from layerlab.viz.style import new_figure, tr

if TYPE_CHECKING:  # only for annotations: matplotlib is imported lazily
    from matplotlib.figure import Figure


def plot_progression(grids: Sequence[tuple[int, Tensor]], title: str = "The same noise, epoch by epoch",
                     lang: str = "en") -> Figure:
    """One row per epoch of the fixed-noise samples (epoch, images (n, 1, H, W) in [0, 1])."""
    columns = max(len(images) for _, images in grids)
    fig, axes = new_figure(1, 1, (columns * 0.75 + 1, len(grids) * 0.8 + 0.8))
    ax = axes[0, 0]
    strip = np.concatenate([tile(images, columns) for _, images in grids], axis=0)
    ax.imshow(strip, cmap="gray", vmin=0, vmax=255)
    height = strip.shape[0] / len(grids)
    ax.set_yticks([height * (i + 0.5) for i in range(len(grids))], [tr(lang, f"epoch {e}", f"에포크 {e}") for e, _ in grids])
    ax.set_xticks([])
    ax.set_title(title)
    return fig


def plot_game(rows: Sequence[dict[str, Any]], title: str = "The game, epoch by epoch") -> Figure:
    """Left: D's and G's losses; right: D(x) on real images and D(G(z)) on generated ones."""
    fig, axes = new_figure(1, 2, (10, 3.6))
    epochs = [r["epoch"] for r in rows]
    left, right = axes[0]
    left.plot(epochs, [r["train_d_loss"] for r in rows], "-o", markersize=3, label="D loss (real→1, fake→0)")
    left.plot(epochs, [r["train_g_loss"] for r in rows], "-s", markersize=3, label="G loss (fake→1)")
    left.axhline(2 * math.log(2), color="0.6", lw=0.8, ls="--", label="D loss when D(·) = 0.5: 2·ln 2")
    right.plot(epochs, [r["train_d_real"] for r in rows], "-o", markersize=3, label="D(x): real images")
    right.plot(epochs, [r["train_d_fake"] for r in rows], "-s", markersize=3, label="D(G(z)): generated")
    right.axhline(0.5, color="0.6", lw=0.8, ls="--", label="0.5: D cannot tell")
    right.set_ylim(0, 1)
    for ax, name in ((left, "loss"), (right, "mean probability of 'real'")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return fig


def plot_verdict(numbers: dict[str, Any], classes: Sequence[str], lang: str = "en") -> Figure:
    """The judge's verdict: the share of each class among the samples, and each measure beside its floor."""
    fig, axes = new_figure(1, 3, (13, 3.6))
    shares, fair = numbers["class_shares"], 1 / len(classes)
    bars, frechet, score = axes[0]
    bars.bar(range(len(shares)), shares, color=["C3" if s > 0.15 or s < 0.01 else "C0" for s in shares])
    bars.axhline(fair, color="0.4", lw=0.8, ls="--", label=f"fair share {fair:.0%}")
    bars.axhline(0.15, color="C3", lw=0.8, ls=":", label="15%: too many")
    bars.set_xticks(range(len(shares)), list(classes))
    bars.set_title(f"Classes among the samples: {numbers['modes_covered']} of {len(classes)} covered")
    bars.legend(fontsize=7)
    values = [numbers["frechet_floor"], numbers["frechet"]]
    frechet.bar([tr(lang, "real train vs test\n(floor)", "진짜 학습 vs 테스트\n(하한)"), tr(lang, "generated vs test", "생성 vs 테스트")], values, color=["0.6", "C0"])
    frechet.axhline(3 * numbers["frechet_floor"], color="C3", lw=0.8, ls=":", label="goal: 3 x floor")
    frechet.set_title(f"Fréchet distance (LeNet features): {numbers['frechet_ratio']:.1f} x floor")
    frechet.legend(fontsize=7)
    score.bar([tr(lang, "real test images", "진짜 테스트 이미지"), tr(lang, "generated", "생성 이미지")], [numbers["inception_score_real"], numbers["inception_score"]],
              color=["0.6", "C0"])
    score.axhline(len(classes), color="0.4", lw=0.8, ls="--", label=f"most possible: {len(classes)}")
    score.axhline(9.0, color="C3", lw=0.8, ls=":", label="goal 9.0")
    score.set_title("Classifier Inception Score")
    score.legend(fontsize=7)
    fig.suptitle(f"Judged by a LeNet-5 (test accuracy {numbers['judge_test_accuracy']:.4f}); two-sample test "
                 f"{numbers['two_sample_accuracy']:.3f} (real vs real {numbers['two_sample_floor']:.3f}; 0.5 = cannot tell)")
    return fig
