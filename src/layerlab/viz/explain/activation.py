"""`layerlab explain activation [A [B]]`: sigmoid, tanh, ReLU, leaky ReLU, GELU and their slopes.

Course notes 000 (activation removes negative or unneeded values), 001 (the sigmoid
1/(1+e^-(a·x+b)): a larger a is steeper, b shifts it sideways), 002 (the sigmoid's slope is at
most 0.25 and shrinks as layers are added: the vanishing gradient ResNet fixes) and 003 (ReLU
is the most used today).

What to notice: backpropagation multiplies one slope per layer. The sigmoid's slope is at most
0.25, so through 10 sigmoid layers a gradient shrinks by at least 0.25**10 (about one
millionth); ReLU's slope is exactly 1 wherever it is active.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from layerlab.viz.explain.base import Explanation, expect_at_most, pad, parse_float, register_topic
from layerlab.viz.style import figure_style, label, new_figure, save_figure, tr

LEAKY_SLOPE = 0.1  # nn.LeakyReLU defaults to 0.01; 0.1 keeps the slope visible in the plot
DEPTH = 10
USAGE = "layerlab explain activation [A [B]]   (the course's sigmoid 1/(1+e^-(A·x+B)), default A=1 B=0)"

# the figure's title and its caption: what to notice
TITLE = {"en": "Activation functions and their slopes", "ko": "활성화 함수와 기울기"}
CAPTION = {
    "en": (
        "Notice that the sigmoid's slope never exceeds 0.25, so after {depth} sigmoid layers a gradient "
        "is at most 0.25^{depth} ≈ 1e-6 of its size, while ReLU passes it through unchanged."
    ),
    "ko": (
        "시그모이드의 기울기는 0.25를 넘지 않아 {depth}개 층을 지나면 기울기가 "
        "0.25^{depth} ≈ 1e-6 이하로 사라지지만(기울기 소실), ReLU는 그대로 전달한다는 "
        "점에 주목하세요."
    ),
}


def activations(a: float = 1.0, b: float = 0.0) -> dict[str, Callable[[Tensor], Tensor]]:
    return {
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
        "leaky_relu": lambda x: F.leaky_relu(x, LEAKY_SLOPE),
        "gelu": F.gelu,
        f"sigmoid(a={a:g},b={b:g})": lambda x: torch.sigmoid(a * x + b),
    }


def derivative(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """d fn / dx at every point of x, by autograd (each output depends on its own input only)."""
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(fn(x).sum(), x)
    return grad


def chain_gradient(fn: Callable[[Tensor], Tensor], depth: int = DEPTH, x0: float = 0.0) -> float:
    """d/dx of fn applied `depth` times (fn(fn(...fn(x)))), at x0: one slope per layer, multiplied."""
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    y = x
    for _ in range(depth):
        y = fn(y)
    (grad,) = torch.autograd.grad(y, x)
    return float(grad)


def activation_numbers(a: float = 1.0, b: float = 0.0) -> dict:
    """Values and slopes at x = -2..2, the largest slope of each function, and 10-layer chains."""
    grid = torch.linspace(-8, 8, 16001, dtype=torch.float64)
    points = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0], dtype=torch.float64)
    table, max_slope = {}, {}
    for name, fn in activations(a, b).items():
        table[name] = {"value": fn(points).tolist(), "slope": derivative(fn, points).tolist()}
        max_slope[name] = float(derivative(fn, grid).max())
    return {
        "x": points.tolist(), "table": table, "max_slope": max_slope,
        "a": a, "b": b, "leaky_slope": LEAKY_SLOPE, "depth": DEPTH,
        "sigmoid_bound_after_depth": 0.25**DEPTH,
        "sigmoid_chain_gradient": chain_gradient(torch.sigmoid),
        "tanh_chain_gradient": chain_gradient(torch.tanh),
        "relu_chain_gradient": chain_gradient(torch.relu, x0=1.0),
    }


@register_topic(
    "activation",
    description="sigmoid (with the course's a, b), tanh, ReLU, leaky ReLU, GELU, their slopes, "
    "and sigmoid' <= 0.25 over 10 layers",
    usage=USAGE,
)
def activation(args: Sequence[str], *, out: Path, lang: str) -> Explanation:
    expect_at_most(args, 2, USAGE)
    a = parse_float(args[0], "A (sigmoid steepness)") if args else 1.0
    b = parse_float(args[1], "B (sigmoid shift)") if len(args) > 1 else 0.0
    numbers = activation_numbers(a, b)
    if out is not None:  # None: --no-figure, the numbers and the working only
        _draw(out, lang, numbers)
    return Explanation("activation", text_of(numbers, lang), numbers, out)


def text_of(numbers: dict, lang: str = "en") -> str:
    xs = "  ".join(f"{x:>6g}" for x in numbers["x"])
    slope = pad(tr(lang, "slope", "기울기"), 26, right=True)
    lines = [f"{'x':>26}: {xs}"]
    for name, row in numbers["table"].items():
        lines.append(f"{name:>26}: " + "  ".join(f"{v:6.3f}" for v in row["value"]))
        lines.append(f"{slope}: " + "  ".join(f"{v:6.3f}" for v in row["slope"]))
    d, peak = numbers["depth"], f"{numbers['a'] / 4:.4g}"
    bound, sigmoids = f"{numbers['sigmoid_bound_after_depth']:.4g}", f"{numbers['sigmoid_chain_gradient']:.4g}"
    tanh, relu = f"{numbers['tanh_chain_gradient']:.4g}", f"{numbers['relu_chain_gradient']:.4g}"
    lines += [
        tr(lang, "largest slope: ", "가장 큰 기울기: ") + ", ".join(f"{k} {v:.4g}" for k, v in numbers["max_slope"].items()),
        "sigmoid'(x) = sigmoid(x)(1 - sigmoid(x)) <= 0.5·0.5 = 0.25" + tr(lang, ", reached at x = 0", ", x = 0에서 최대"),
        tr(lang, f"with a and b: the slope of 1/(1+e^-(a·x+b)) peaks at a/4 = {peak}, at x = -b/a",
           f"a와 b가 있으면: 1/(1+e^-(a·x+b))의 기울기는 최대 a/4 = {peak}, 위치는 x = -b/a"),
        tr(lang, f"through {d} sigmoid layers a gradient is multiplied by at most 0.25**{d} = {bound}",
           f"sigmoid 층 {d}개를 지나면 기울기에 곱해지는 값은 최대 0.25**{d} = {bound}"),
        tr(lang, f"  measured (autograd, {d} sigmoids in a row at x=0): {sigmoids}",
           f"  실측 (autograd, sigmoid {d}개 연속, x=0): {sigmoids}"),
        tr(lang, f"  {d} tanh in a row: {tanh}; {d} ReLU in a row at x=1: {relu}",
           f"  tanh {d}개 연속: {tanh}; ReLU {d}개 연속, x=1: {relu}"),
    ]
    return "\n".join(lines)


def _draw(out: Path, lang: str, numbers: dict) -> None:
    x = torch.linspace(-5, 5, 401, dtype=torch.float64)
    fns = activations(numbers["a"], numbers["b"])
    base = ["sigmoid", "tanh", "relu", "leaky_relu", "gelu"]
    with figure_style(lang):
        fig, ax = new_figure(2, 2, (10.5, 7.6))
        for name in base:
            ax[0, 0].plot(x.numpy(), fns[name](x).numpy(), label=name)
            ax[0, 1].plot(x.numpy(), derivative(fns[name], x).numpy(), label=name + "'")
        ax[0, 1].axhline(0.25, color="0.4", ls=":", lw=1)
        ax[0, 1].annotate("0.25", (-5, 0.27), fontsize=8)
        label(ax[0, 0], tr(lang, "activation functions", "활성화 함수 (activation function)"), "x", "f(x)")
        label(ax[0, 1], tr(lang, "their slopes (derivatives)", "기울기 (미분값)"), "x", "f'(x)")
        a, b = numbers["a"], numbers["b"]
        shapes = [(0.5, 0.0), (1.0, 0.0), (3.0, 0.0), (1.0, -2.0)]
        for sa, sb in shapes + ([(a, b)] if (a, b) not in shapes else []):  # the user's a, b drawn thick
            width = 2.5 if (sa, sb) == (a, b) else 1.2
            ax[1, 0].plot(x.numpy(), torch.sigmoid(sa * x + sb).numpy(), lw=width, label=f"a={sa:g}, b={sb:g}")
        title = tr(lang, "sigmoid 1/(1+e^-(a·x+b)): a = steepness, b = shift",
                   "시그모이드 1/(1+e^-(a·x+b)): a = 가파른 정도, b = 좌우 이동")
        label(ax[1, 0], title, "x", "σ(a·x+b)")
        depths = list(range(1, numbers["depth"] + 1))
        measured = [chain_gradient(torch.sigmoid, n) for n in depths]
        bound = tr(lang, "sigmoid bound 0.25^n", "시그모이드 상한 0.25^n")
        ax[1, 1].semilogy(depths, [0.25**n for n in depths], "o-", label=bound)
        ax[1, 1].semilogy(depths, measured, "s--", label=tr(lang, "sigmoid, measured", "시그모이드 (측정)"))
        ax[1, 1].semilogy(depths, [chain_gradient(torch.relu, n, 1.0) for n in depths], "^-", label="ReLU")
        label(ax[1, 1], tr(lang, "gradient left after n layers", "n개 층을 지난 뒤 남은 기울기"),
              tr(lang, "number of layers n", "층의 수 n"), tr(lang, "gradient (log scale)", "기울기 (로그 눈금)"))
        for panel in ax.flat:
            panel.legend(fontsize=7)
            panel.grid(alpha=0.3)
        save_figure(fig, out, TITLE[lang], CAPTION[lang].format(depth=numbers["depth"]), lang)
