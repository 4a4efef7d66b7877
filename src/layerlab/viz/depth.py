"""Pictures of what depth does to training: the ResNet paper's Figure 6 and gradients layer by layer.

Used by the degradation lab (plain vs residual nets of two depths) and the vanishing-gradients lab
(the gradient norm of every layer of a deep MLP, with the sigmoid's 0.25-per-layer line).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from layerlab.inspect.gradients import sigmoid_bound
from layerlab.viz.style import new_figure, tr

if TYPE_CHECKING:  # only for annotations: matplotlib is imported lazily
    from matplotlib.figure import Figure


def error_curves(rows: Sequence[dict[str, Any]], split: str) -> tuple[list[int], list[float]]:
    """(epochs, error in %) of one run: 100 · (1 - `split`_accuracy) per epoch."""
    points = [(r["epoch"], 100 * (1 - r[f"{split}_accuracy"])) for r in rows if r.get(f"{split}_accuracy") is not None]
    epochs, errors = zip(*points) if points else ((), ())
    return list(epochs), list(errors)


def plot_degradation(panels: Mapping[str, Mapping[str, Sequence[dict[str, Any]]]], *, title: str) -> Figure:
    """The ResNet paper's Figure 6: one panel per family (plain, ResNet), one colour per depth,
    training error dashed and thin, test error solid and bold, the same error axis in every panel."""
    fig, axes = new_figure(1, len(panels), (5.2 * len(panels), 4.0))
    for ax, (family, runs) in zip(axes[0], panels.items()):
        for i, (name, rows) in enumerate(runs.items()):
            ax.plot(*error_curves(rows, "train"), "--", lw=1.2, color=f"C{i}", label=f"{name} train")
            ax.plot(*error_curves(rows, "test"), "-", lw=2.4, color=f"C{i}", label=f"{name} test")
        ax.set_title(family)
        ax.set_xlabel("epoch")
        ax.set_ylabel("error (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    lows = [ax.get_ylim()[0] for ax in axes[0]]
    highs = [ax.get_ylim()[1] for ax in axes[0]]
    for ax in axes[0]:
        ax.set_ylim(min(lows), max(highs))   # one scale, so plain and residual nets compare across panels
    fig.suptitle(title)
    return fig


def draw_layer_gradients(ax: Any, per_activation: Mapping[str, Sequence[float]], *, factor: float = 0.25,
                         lang: str = "en") -> None:
    """One panel: the gradient reaching each layer (log scale), one line per activation, and the
    dotted line that starts at the sigmoid net's output layer and shrinks by `factor` per layer
    towards the input: what σ' ≤ 1/4 alone lets through."""
    for i, (activation, values) in enumerate(per_activation.items()):
        layers = range(1, len(values) + 1)
        ax.semilogy(layers, values, "-o", markersize=3, color=f"C{i}", label=activation)
        if activation == "sigmoid":
            ax.semilogy(layers, sigmoid_bound(values[-1], len(values), factor), ":", color="black",
                        label=tr(lang, f"×{factor:g} per layer from the output", f"출력층부터 층마다 ×{factor:g}"))
    ax.set_xlabel(tr(lang, "layer (1 = next to the input)", "층 (1 = 입력 쪽)"))
    ax.set_ylabel(tr(lang, "‖dLoss/dz‖ at the layer's output, per image (log)", "층 출력의 ‖dLoss/dz‖, 이미지당 (로그)"))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)


def plot_layer_gradients(norms: Mapping[str, Mapping[str, Sequence[float]]], *, factor: float, title: str,
                         lang: str = "en") -> Figure:
    """`draw_layer_gradients` once per moment ("at initialisation", "after training", ...)."""
    fig, axes = new_figure(1, len(norms), (5.2 * len(norms), 4.0))
    for ax, (moment, per_activation) in zip(axes[0], norms.items()):
        draw_layer_gradients(ax, per_activation, factor=factor, lang=lang)
        ax.set_title(moment)
    fig.suptitle(title)
    return fig
