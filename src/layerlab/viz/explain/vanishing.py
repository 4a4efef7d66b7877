"""`layerlab explain vanishing-gradient [LENGTH]`: how far back a gradient reaches in RNN, LSTM and GRU;
`layerlab explain vanishing-gradient layers [DEPTH]`: how far down it reaches through a deep MLP.

Course units: RNN (5주차): the vanishing gradient (기울기 소실) and the long-term dependency problem
(장기 의존성 문제), and LSTM/GRU as the fix; ResNet (4주차): the sigmoid's derivative is at most 0.25,
so the gradient shrinks layer after layer ("층을 더 할 수록 줄어듦").

The experiment: one random input sequence (4 numbers per step, LENGTH steps, default 100) goes
through an RNN, an LSTM and a GRU of 32 units each; the loss is the sum of the last hidden state.
We measure |dLoss/dx_t|, how much the input at step t can still change the loss, for every t.
Backpropagation multiplies one Jacobian per step: in a vanilla RNN that is tanh' · U, smaller
than 1, so the gradient shrinks geometrically. An LSTM's cell state is updated by *addition*,
c_t = f ⊙ c_{t-1} + i ⊙ g, so its gradient is multiplied by the forget gate f alone; a GRU keeps
z ⊙ h_{t-1}. Where those gates lean towards "keep", the gradient survives far longer.
Honest detail: at torch's default initialisation every bias is ~0, so f ≈ z ≈ 0.5 and the gated
cells forget almost as fast as the RNN (the dashed lines). Starting the keep gates at bias +1
(Keras's `unit_forget_bias`, Jozefowicz et al. 2015) is what the solid lines show; training on a
task that needs memory pushes the gates the same way.

`layers`: the same question through depth instead of time. An MLP of DEPTH Linear layers (784 → 128
x (DEPTH - 1) → 10, default 15) at initialisation, each activation with its own gain
(N(0, gain²/fan_in), `models.mlp.seeded_mlp`), reads 64 random inputs; we measure the gradient
reaching every layer, ‖dLoss/dz_k‖ per input (`inspect.gradients`). Through a sigmoid each layer
multiplies it by σ'(z) ⊙ Wᵀ with σ' ≤ 0.25, drawn as a dotted line. The lab `vanishing-gradients`
trains these nets on MNIST and measures the same thing before and after.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from layerlab.errors import LayerlabError
from layerlab.inspect.gradients import layer_gradient_norms
from layerlab.models.mlp import seeded_mlp
from layerlab.viz.depth import draw_layer_gradients
from layerlab.viz.explain.base import Explanation, parse_int, register_topic
from layerlab.viz.style import figure_style, label, new_figure, save_figure, tr

CELLS = ("rnn", "lstm", "gru")
LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
INPUT, HIDDEN, SEEDS = 4, 32, 5
KEEP_BIAS = 1.0   # the keep gate's starting bias (LSTM forget gate f, GRU update gate z)
USAGE = ("layerlab explain vanishing-gradient [LENGTH]   (sequence length 10 to 200, default 100)\n"
         "       layerlab explain vanishing-gradient layers [DEPTH]   (MLP layers 3 to 30, default 15)")
MLP_ACTIVATIONS, MLP_WIDTH, MLP_BATCH = ("sigmoid", "tanh", "relu"), 128, 64

TITLE = {
    "en": "Vanishing gradients: how far back can the loss reach?",
    "ko": "기울기 소실 (Vanishing Gradient): 손실이 얼마나 먼 과거까지 닿는가?",
}
CAPTION = {
    "en": (
        "Notice that the RNN's gradient with respect to the first input is {rnn:.0f} orders of magnitude "
        "smaller than to the last: early inputs barely matter. With the keep gates leaning open the LSTM "
        "loses {lstm:.0f} and the GRU {gru:.0f} orders; at torch's default bias 0 (dashed) they forget "
        "almost as fast."
    ),
    "ko": (
        "RNN은 첫 입력에 대한 기울기가 마지막 입력보다 {rnn:.0f}자리수나 작아 먼 과거가 거의 반영되지 "
        "않는다는 점에 주목하세요. 유지 게이트를 열어 두면 LSTM은 {lstm:.0f}자리수, GRU는 {gru:.0f}자리수만 "
        "줄어듭니다. torch 기본값(bias 0, 점선)에서는 게이트 셀도 거의 같은 속도로 잊습니다."
    ),
}


def make_layer(cell: str, keep_bias: float | None, seed: int) -> nn.Module:
    """torch's layer with torch's default weights, drawn from a generator seeded `seed` (torch's
    global random state is left alone); `keep_bias` sets the LSTM f / GRU z gate bias."""
    with torch.device("meta"):   # shapes only: the weights are drawn below, from our own generator
        layer = LAYERS[cell](INPUT, HIDDEN, batch_first=True)
    layer = layer.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(seed)
    bound = 1 / math.sqrt(HIDDEN)
    with torch.no_grad():
        for p in layer.parameters():   # torch's reset_parameters: U(-1/sqrt(H), 1/sqrt(H)), in this order
            p.uniform_(-bound, bound, generator=generator)
    layer = layer.double()
    if keep_bias is not None and cell != "rnn":
        keep = slice(HIDDEN, 2 * HIDDEN)   # gate order i,f,g,o (LSTM) and r,z,n (GRU): rows H..2H
        with torch.no_grad():
            layer.bias_ih_l0[keep] = keep_bias
            layer.bias_hh_l0[keep] = 0.0
    return layer


def input_gradients(layer: nn.Module, x: Tensor) -> Tensor:
    """|dLoss/dx_t| for every step t, loss = sum of the last hidden state. x: (1, T, INPUT) -> (T,)."""
    x = x.clone().requires_grad_()
    outputs, _ = layer(x)                  # (1, T, H)
    (grad,) = torch.autograd.grad(outputs[0, -1].sum(), x)
    return grad[0].norm(dim=1)             # (T,)


def vanishing_numbers(length: int = 100, seeds: int = SEEDS) -> dict:
    """Per cell, with torch's default gate biases and with the keep gates at +1: the gradient norm at
    every step (geometric mean over seeds) and log10(|grad at step 1| / |grad at step T|) per seed."""
    results: dict = {"length": length, "seeds": seeds, "hidden": HIDDEN, "keep_bias": KEEP_BIAS}
    for init, keep_bias in (("default", None), ("keep_open", KEEP_BIAS)):
        for cell in CELLS:
            norms = []
            for seed in range(seeds):
                x = torch.randn(1, length, INPUT, generator=torch.Generator().manual_seed(1000 + seed),
                                dtype=torch.float64)   # the same inputs for every cell
                norms.append(input_gradients(make_layer(cell, keep_bias, seed), x))
            logs = torch.stack(norms).log10()          # (seeds, T)
            results[f"{cell}_{init}"] = {
                "norm_per_step": (10 ** logs.mean(0)).tolist(),
                "log10_ratio_first_to_last": (logs[:, 0] - logs[:, -1]).tolist(),
            }
    return results


@register_topic(
    "vanishing-gradient",
    description="gradient of the loss w.r.t. each earlier input for RNN vs LSTM vs GRU; `layers`: at each layer "
                "of a deep MLP, sigmoid vs tanh vs ReLU (log scale)",
    usage=USAGE,
)
def vanishing_gradient(args: Sequence[str], *, out: Path, lang: str) -> Explanation:
    if args and args[0] == "layers":
        return _through_layers(args[1:], out, lang)
    if len(args) > 1:
        raise LayerlabError(f"give at most one number, the sequence length; got {list(args)}")
    length = parse_int(args[0], "LENGTH", minimum=10) if args else 100
    if length > 200:
        raise LayerlabError(f"LENGTH must be at most 200, got {length}")
    numbers = vanishing_numbers(length)
    if out is not None:  # None: --no-figure, the numbers and the working only
        _draw(out, lang, numbers)
    return Explanation("vanishing-gradient", text_of(numbers, lang), numbers, out)


def _mean_orders(numbers: dict, key: str) -> float:
    return -float(np.mean(numbers[key]["log10_ratio_first_to_last"]))


def text_of(numbers: dict, lang: str = "en") -> str:
    length, hidden, seeds = numbers["length"], numbers["hidden"], numbers["seeds"]
    lines = [
        tr(lang, f"{length} steps of 4 random inputs -> one layer of {hidden} units; "
                 f"loss = sum(h_T); |dLoss/dx_t| per step, {seeds} seeds",
           f"무작위 입력 4개씩 {length} 스텝 -> 유닛 {hidden}개의 층 하나; "
           f"손실 = sum(h_T); 스텝마다 |dLoss/dx_t|, 시드 {seeds}개"),
        tr(lang, "backprop multiplies one Jacobian per step: RNN tanh'·U; LSTM cell path f; GRU z",
           "역전파는 스텝마다 야코비안(Jacobian)을 하나씩 곱합니다: RNN tanh'·U; LSTM 셀 경로 f; GRU z"),
    ]
    inits = (("default", tr(lang, "torch default (gate biases ~0)", "torch 기본값 (게이트 bias ~0)")),
             ("keep_open", tr(lang, f"keep gates at bias +{KEEP_BIAS:g}", f"유지 게이트 bias +{KEEP_BIAS:g}")))
    for init, name in inits:
        lines.append(f"{name}:")
        for cell in CELLS:
            entry = numbers[f"{cell}_{init}"]
            ratios = ", ".join(f"1e{r:.1f}" for r in entry["log10_ratio_first_to_last"])
            mean = f"{_mean_orders(numbers, f'{cell}_{init}'):.1f}"
            lines.append(f"  {cell.upper():<4} |grad x_1| / |grad x_T| " + tr(
                lang, f"per seed: {ratios}  (mean: {mean} orders of magnitude lost)",
                f"시드별: {ratios}  (평균 {mean}자리수 줄어듦)"))
    return "\n".join(lines)


def _draw(out: Path, lang: str, numbers: dict) -> None:
    with figure_style(lang):
        fig, ax = new_figure(1, 2, (13.0, 5.0))
        steps = np.arange(1, numbers["length"] + 1)
        for i, cell in enumerate(CELLS):
            ax[0, 0].semilogy(steps, numbers[f"{cell}_keep_open"]["norm_per_step"], color=f"C{i}", lw=2,
                              label=f"{cell.upper()}" + ("" if cell == "rnn" else tr(lang, " (keep gate +1)", " (유지 게이트 +1)")))
            if cell != "rnn":
                ax[0, 0].semilogy(steps, numbers[f"{cell}_default"]["norm_per_step"], "--", color=f"C{i}", lw=1,
                                  label=f"{cell.upper()}" + tr(lang, " (torch default)", " (torch 기본값)"))
        label(ax[0, 0], tr(lang, "|dLoss/dx_t| at every step", "단계별 |dLoss/dx_t|"),
              tr(lang, "time step t (the loss is at the last step)", "시점 t (손실은 마지막 시점)"),
              tr(lang, "gradient norm (log scale)", "기울기 크기 (로그 눈금)"))
        width = 0.38
        for j, (init, name) in enumerate((("default", tr(lang, "torch default", "torch 기본값")),
                                          ("keep_open", tr(lang, "keep gate +1", "유지 게이트 +1")))):
            lost = [_mean_orders(numbers, f"{cell}_{init}") for cell in CELLS]
            ax[0, 1].bar(np.arange(3) + (j - 0.5) * width, lost, width, label=name, color=f"0.{4 + 3 * j}")
        ax[0, 1].set_xticks(range(3), [c.upper() for c in CELLS])
        label(ax[0, 1], tr(lang, "Orders of magnitude lost, step T -> step 1", "T에서 1까지 줄어든 자리수"),
              tr(lang, "cell", "셀"), tr(lang, "-log10(|grad x_1| / |grad x_T|)", "-log10(|기울기 x_1| / |기울기 x_T|)"))
        for panel in ax.flat:
            panel.legend(fontsize=8)
            panel.grid(alpha=0.3)
        orders = {cell: _mean_orders(numbers, f"{cell}_keep_open") for cell in CELLS}
        save_figure(fig, out, TITLE[lang], CAPTION[lang].format(**orders), lang)


# --- through the layers of an MLP -------------------------------------------------------------

LAYERS_TITLE = {
    "en": "Vanishing gradients through depth: the gradient reaching each layer at initialisation",
    "ko": "깊이에 따른 기울기 소실: 초기화 직후 각 층에 도달하는 기울기",
}
LAYERS_CAPTION = {
    "en": ("Notice that through sigmoid layers the gradient shrinks by {sigmoid:.2f} per layer, under the 0.25 that "
           "σ' allows (dotted): layer 1 gets 1e{sigmoid_log:.0f} of the output layer's. With their own gains, tanh "
           "({tanh:.2f} per layer) and ReLU ({relu:.2f}) keep it."),
    "ko": ("sigmoid 층을 지날 때마다 기울기가 {sigmoid:.2f}배로 줄어 σ'의 최댓값 0.25(점선)보다도 작다는 점에 "
           "주목하세요. 1층에는 출력층의 1e{sigmoid_log:.0f}만 도달합니다. 각자의 gain으로 초기화한 tanh({tanh:.2f}배)와 "
           "ReLU({relu:.2f}배)는 기울기를 유지합니다."),
}


def depth_numbers(depth: int = 15, seeds: int = 3) -> dict:
    """Per activation: ‖dLoss/dz_k‖ per input for every layer k at initialisation (geometric mean over
    seeds) and the shrink per layer from the output layer to layer 1. Every draw has its own generator."""
    sizes = (784, *[MLP_WIDTH] * (depth - 1), 10)
    results: dict = {"depth": depth, "width": MLP_WIDTH, "seeds": seeds, "batch": MLP_BATCH, "bound": 0.25}
    for activation in MLP_ACTIVATIONS:
        logs = []
        for seed in range(seeds):
            g = torch.Generator().manual_seed(2000 + seed)
            x, y = torch.randn(MLP_BATCH, 784, generator=g), torch.randint(0, 10, (MLP_BATCH,), generator=g)
            model = seeded_mlp(sizes, activation, seed=seed)
            norms = [n for _, n in layer_gradient_norms(model, nn.functional.cross_entropy, x, y)]
            logs.append(torch.tensor(norms, dtype=torch.float64).log10())
        mean = torch.stack(logs).mean(0)                       # (depth,) log10 of the geometric mean
        results[activation] = {"norm_per_layer": (10 ** mean).tolist(),
                               "log10_first_over_last": float(mean[0] - mean[-1]),
                               "shrink_per_layer": float(10 ** ((mean[0] - mean[-1]) / (depth - 1)))}
    return results


def _through_layers(args: Sequence[str], out: Path, lang: str) -> Explanation:
    if len(args) > 1:
        raise LayerlabError(f"after 'layers' give at most one number, the depth; got {list(args)}")
    depth = parse_int(args[0], "DEPTH", minimum=3) if args else 15
    if depth > 30:
        raise LayerlabError(f"DEPTH must be at most 30, got {depth}")
    numbers = depth_numbers(depth)
    if out is None:   # --no-figure
        return Explanation("vanishing-gradient", layers_text_of(numbers, lang), numbers, None)
    with figure_style(lang):
        fig, ax = new_figure(1, 1, (11.0, 5.5))   # the caption wraps at 120 characters
        draw_layer_gradients(ax[0, 0], {a: numbers[a]["norm_per_layer"] for a in MLP_ACTIVATIONS}, lang=lang)
        shrink = {a: numbers[a]["shrink_per_layer"] for a in MLP_ACTIVATIONS}
        caption = LAYERS_CAPTION[lang].format(**shrink, sigmoid_log=numbers["sigmoid"]["log10_first_over_last"])
        save_figure(fig, out, LAYERS_TITLE[lang], caption, lang)
    return Explanation("vanishing-gradient", layers_text_of(numbers, lang), numbers, out)


def layers_text_of(numbers: dict, lang: str = "en") -> str:
    """The working of `vanishing-gradient layers`, from its numbers."""
    depth, seeds = numbers["depth"], numbers["seeds"]
    lines = [tr(lang, f"MLP 784 -> {MLP_WIDTH} x {depth - 1} -> 10 at initialisation, weights N(0, gain^2/fan_in); "
                      f"{MLP_BATCH} random inputs, {seeds} seeds; ||dLoss/dz|| per input at every layer",
                f"초기화 직후의 MLP 784 -> {MLP_WIDTH} x {depth - 1} -> 10, 가중치 N(0, gain^2/fan_in); "
                f"무작위 입력 {MLP_BATCH}개, 시드 {seeds}개; 층마다 입력당 ||dLoss/dz||"),
             tr(lang, "through a sigmoid layer the gradient is multiplied by sigma'(z) * W^T, and sigma' <= 0.25",
                "sigmoid 층을 하나 지날 때마다 기울기에 sigma'(z) * W^T가 곱해지고, sigma' <= 0.25")]
    for activation in MLP_ACTIVATIONS:
        entry = numbers[activation]
        shrink, reach = f"x{entry['shrink_per_layer']:.3f}", f"1e{entry['log10_first_over_last']:.1f}"
        lines.append(f"  {activation:<8} " + tr(lang, f"{shrink} per layer: layer 1 gets {reach} of the output layer's gradient",
                                                 f"층마다 {shrink}: 1층에는 출력층 기울기의 {reach}만 도달"))
    return "\n".join(lines)
