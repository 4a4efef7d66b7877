"""`layerlab explain lr [RATE...]`: gradient descent with a learning rate too small, good, too large.

Course notes 000 (the optimizer moves the weights by the learning rate times the gradient; too
low and it crawls or gets stuck, too high and it misses the minimum) and 001 (the loss
(y - wx)^2 is a bowl in w; with many weights it is a surface, hence partial derivatives).

What to notice: each step is w <- w - lr·gradient. On a bowl whose steepest curvature is c, the
steps shrink towards the minimum only while lr < 2/c; here c = 5, so 0.4 is the edge: 0.02
crawls, 0.3 converges, 0.42 overshoots further every step and diverges.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from layerlab.errors import LayerlabError
from layerlab.viz.explain.base import Explanation, parse_vector, register_topic
from layerlab.viz.style import figure_style, label, new_figure, save_figure, tr

DEFAULT_RATES = (0.02, 0.3, 0.42)
STEPS = 20
CURVATURE = 5.0  # the steepest second derivative of both losses: stable iff lr < 2/5
START_1D = (0.0,)
START_2D = (-4.0, 2.0)
USAGE = "layerlab explain lr [RATE...]   (1 to 5 learning rates, default 0.02 0.3 0.42)"

# the figure's title and its caption: what to notice
TITLE = {
    "en": "Learning rate: too small, good, too large",
    "ko": "학습률 (Learning Rate): 너무 작음, 적절함, 너무 큼",
}
CAPTION = {
    "en": (
        "Notice that a small rate crawls, a good one reaches the bottom of the bowl in a few steps, and "
        "one above 2/curvature = {edge:g} overshoots further every step and diverges."
    ),
    "ko": (
        "학습률이 너무 작으면 느리게 기어가고, 적절하면 몇 단계 만에 바닥에 닿으며, 2/곡률 = "
        "{edge:g} 보다 크면 매 단계 더 멀리 넘어가 발산한다는 점에 주목하세요."
    ),
}


def loss_1d(w: Tensor) -> Tensor:
    """A bowl with its minimum at w = 3: 2.5·(w - 3)^2."""
    return 2.5 * (w[0] - 3.0) ** 2


def loss_2d(w: Tensor) -> Tensor:
    """An elongated bowl with its minimum at (0, 0): 0.5·x^2 + 2.5·y^2 (steep in y, flat in x)."""
    return 0.5 * w[0] ** 2 + 2.5 * w[1] ** 2


def descend(loss_fn: Callable[[Tensor], Tensor], start: Sequence[float], lr: float, steps: int = STEPS) -> dict:
    """Plain gradient descent: the path of the weights and the loss at every step (step 0 = start)."""
    w = torch.tensor(list(start), dtype=torch.float64, requires_grad=True)
    path, losses = [w.detach().tolist()], [float(loss_fn(w.detach()))]
    for _ in range(steps):
        (grad,) = torch.autograd.grad(loss_fn(w), w)  # the slope: which way is uphill
        with torch.no_grad():
            w -= lr * grad  # one step downhill, lr times the slope
        path.append(w.detach().tolist())
        losses.append(float(loss_fn(w.detach())))
    return {"lr": lr, "path": path, "losses": losses, "verdict": _verdict(losses)}


def _verdict(losses: list[float]) -> str:
    if losses[-1] > losses[0]:
        return "diverges"
    if losses[-1] < 1e-3 * losses[0]:
        return "converges"
    return "too slow"


def lr_numbers(rates: Sequence[float] = DEFAULT_RATES, steps: int = STEPS) -> dict:
    """Gradient descent with each rate on the 1-D and the 2-D bowl."""
    return {
        "rates": list(rates), "steps": steps, "stable_below": 2 / CURVATURE,
        "one_d": [descend(loss_1d, START_1D, lr, steps) for lr in rates],
        "two_d": [descend(loss_2d, START_2D, lr, steps) for lr in rates],
    }


@register_topic(
    "lr",
    description="gradient descent on a 1-D and a 2-D loss with a learning rate too small, good and too large",
    usage=USAGE,
)
def lr(args: Sequence[str], *, out: Path, lang: str) -> Explanation:
    rates = parse_vector(args, "RATE") if args else list(DEFAULT_RATES)
    if not 1 <= len(rates) <= 5 or any(not 0 < r <= 1 for r in rates):
        raise LayerlabError(f"give 1 to 5 learning rates in (0, 1], got {rates}")
    numbers = lr_numbers(rates)
    if out is not None:  # None: --no-figure, the numbers and the working only
        _draw(out, lang, numbers)
    return Explanation("lr", text_of(numbers, lang), numbers, out)


def text_of(numbers: dict, lang: str = "en") -> str:
    edge, loss, start = f"2/{CURVATURE:g} = {numbers['stable_below']:g}", tr(lang, "loss", "손실"), tr(lang, "start", "시작")
    lines = [
        tr(lang, "update rule: w <- w - lr · dL/dw   (one step per iteration)",
           "업데이트 규칙: w <- w - lr · dL/dw   (반복마다 한 걸음)"),
        f"1-D {loss} L(w) = 2.5·(w - 3)^2, {start} w = 0;  2-D {loss} L(x, y) = 0.5·x^2 + 2.5·y^2, {start} (-4, 2)",
        tr(lang, f"the steepest curvature is {CURVATURE:g}, so steps shrink only while lr < {edge}",
           f"가장 가파른 곡률은 {CURVATURE:g}이므로, 학습률 lr < {edge}일 때만 걸음이 줄어듭니다"),
    ]
    for one, two in zip(numbers["one_d"], numbers["two_d"]):
        lines.append(
            f"lr {one['lr']:<6g} 1-D: w {one['path'][0][0]:g} -> {one['path'][-1][0]:.4g}, "
            f"{loss} {one['losses'][0]:.4g} -> {one['losses'][-1]:.4g} ({_verdict_name(lang, one['verdict'])});  "
            f"2-D: {loss} {two['losses'][0]:.4g} -> {two['losses'][-1]:.4g} ({_verdict_name(lang, two['verdict'])})"
        )
    return "\n".join(lines)


def _verdict_name(lang: str, verdict: str) -> str:
    names = {"diverges": ("diverges", "발산"), "converges": ("converges", "수렴"), "too slow": ("too slow", "너무 느림")}
    return tr(lang, *names[verdict])


def _draw(out: Path, lang: str, numbers: dict) -> None:
    with figure_style(lang):
        fig, ax = new_figure(1, 3, (13.0, 4.9))
        w = np.linspace(-1.5, 7.5, 300)
        ax[0, 0].plot(w, 2.5 * (w - 3) ** 2, color="0.6")
        x, y = np.meshgrid(np.linspace(-5, 5, 200), np.linspace(-3.5, 3.5, 200))
        ax[0, 1].contour(x, y, 0.5 * x**2 + 2.5 * y**2, levels=15, cmap="Greys", linewidths=0.7)
        for i, (one, two) in enumerate(zip(numbers["one_d"], numbers["two_d"])):
            name = f"lr {one['lr']:g}: {_verdict_name(lang, one['verdict'])}"
            ws = np.array([p[0] for p in one["path"]])
            ax[0, 0].plot(ws, 2.5 * (ws - 3) ** 2, "o-", ms=3, lw=1, color=f"C{i}", label=name)
            path = np.array(two["path"])
            name = f"lr {two['lr']:g}: {_verdict_name(lang, two['verdict'])}"
            ax[0, 1].plot(path[:, 0], path[:, 1], "o-", ms=3, lw=1, color=f"C{i}", label=name)
            ax[0, 2].semilogy(two["losses"], "o-", ms=3, color=f"C{i}", label=f"lr {two['lr']:g}")
        ax[0, 0].set_xlim(-1.5, 7.5)
        ax[0, 0].set_ylim(-2, 60)
        ax[0, 1].set_xlim(-5, 5)
        ax[0, 1].set_ylim(-3.5, 3.5)
        label(ax[0, 0], tr(lang, "1-D loss 2.5·(w-3)²", "1차원 loss 2.5·(w-3)²"), tr(lang, "weight w", "가중치 w"), "loss")
        label(ax[0, 1], tr(lang, "2-D loss 0.5·x² + 2.5·y² (contours)", "2차원 loss 0.5·x² + 2.5·y² (등고선)"),
              tr(lang, "weight x", "가중치 x"), tr(lang, "weight y", "가중치 y"))
        label(ax[0, 2], tr(lang, "2-D loss at every step", "단계별 2차원 loss"),
              tr(lang, "step (iteration)", "단계 (iteration)"), tr(lang, "loss (log scale)", "loss (로그 눈금)"))
        for panel in ax.flat:
            panel.legend(fontsize=8)
            panel.grid(alpha=0.3)
        save_figure(fig, out, TITLE[lang], CAPTION[lang].format(edge=numbers["stable_below"]), lang)
