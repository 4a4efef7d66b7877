"""`layerlab explain reparameterisation [MU SIGMA]`: sampling z ~ N(μ, σ²) so that gradients reach μ and σ.

Course unit: AutoEncoder (the VAE). A VAE's encoder gives μ and σ, the decoder needs one sample z,
and training needs ∂loss/∂μ and ∂loss/∂σ. Drawn as `torch.normal(μ, σ)`, z is a random number that
autograd cannot trace back: both gradients come out 0. Written as z = μ + σ·ε with ε ~ N(0, 1)
drawn first, z is an ordinary function of μ and σ (∂z/∂μ = 1, ∂z/∂σ = ε), and the average of the
per-sample gradients estimates the true gradient of the expected loss.

What to notice, with f(z) = z² so that E[f] = μ² + σ² has exact gradients 2μ and 2σ: the
reparameterised estimates approach them as samples accumulate; direct sampling stays at 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from layerlab.errors import LayerlabError
from layerlab.viz.explain.base import Explanation, parse_vector, register_topic
from layerlab.viz.style import figure_style, label, new_figure, save_figure, tr

DEFAULT = (1.0, 0.5)      # μ, σ
SAMPLES = 2000
USAGE = "layerlab explain reparameterisation [MU SIGMA] [--seed S]   (default 1 0.5, seed 0)"

TITLE = {"en": "The reparameterisation trick: z = μ + σ·ε", "ko": "재매개변수화 트릭 (Reparameterisation): z = μ + σ·ε"}
CAPTION = {
    "en": ("Notice that z = μ + σ·ε moves every sample when μ or σ moves, so the average of 2z·∂z gives "
           "gradients that approach the exact 2μ = {gm:g} and 2σ = {gs:g}; sampling z directly gives 0 for both."),
    "ko": ("z = μ + σ·ε 로 쓰면 μ, σ 가 움직일 때 모든 표본이 함께 움직이므로 기울기 추정치가 정확한 값 2μ = {gm:g}, "
           "2σ = {gs:g} 에 다가가지만, z 를 직접 뽑으면 두 기울기가 모두 0 이라는 점에 주목하세요."),
}


def reparam_numbers(mu: float, sigma: float, samples: int = SAMPLES, seed: int = 0) -> dict:
    """Gradients of E[z²] w.r.t. μ and σ: exact, reparameterised (running mean over samples), direct sampling."""
    generator = torch.Generator().manual_seed(seed)
    eps = torch.randn(samples, generator=generator, dtype=torch.float64)              # ε ~ N(0, 1), drawn first
    m = torch.tensor(mu, dtype=torch.float64, requires_grad=True)
    s = torch.tensor(sigma, dtype=torch.float64, requires_grad=True)
    z = m + s * eps                                                                  # the trick: z is a function of μ, σ
    grad_mu, grad_sigma = torch.autograd.grad(z.pow(2).mean(), (m, s))
    direct = torch.normal(m.expand(samples), s.expand(samples), generator=torch.Generator().manual_seed(seed))
    direct_mu, direct_sigma = torch.autograd.grad(direct.pow(2).mean(), (m, s))     # torch.normal: gradient 0
    count = torch.arange(1, samples + 1, dtype=torch.float64)
    zs = z.detach()
    return {
        "mu": mu, "sigma": sigma, "samples": samples, "seed": seed,
        "exact": {"mu": 2 * mu, "sigma": 2 * sigma},                                 # d/dμ, d/dσ of μ² + σ²
        "reparameterised": {"mu": float(grad_mu), "sigma": float(grad_sigma)},
        "direct": {"mu": float(direct_mu), "sigma": float(direct_sigma)},
        "running_mu": ((2 * zs).cumsum(0) / count).tolist(),                          # per sample ∂z²/∂μ = 2z
        "running_sigma": ((2 * zs * eps).cumsum(0) / count).tolist(),                 # per sample ∂z²/∂σ = 2z·ε
        "eps": eps.tolist(), "z": zs.tolist(),
    }


@register_topic("reparameterisation", description="sampling z = μ + σ·ε so that gradients reach μ and σ (the VAE's trick)",
                usage=USAGE, options=("seed",))
def reparameterisation(args: Sequence[str], *, out: Path, lang: str, seed: int = 0) -> Explanation:
    values = parse_vector(args, "MU SIGMA") if args else list(DEFAULT)
    if len(values) != 2 or values[1] <= 0:
        raise LayerlabError(f"give two numbers, MU and SIGMA > 0 (e.g. `1 0.5`); got {' '.join(args)}")
    mu, sigma = values
    numbers = reparam_numbers(mu, sigma, seed=seed)
    if out is not None:  # None: --no-figure, the numbers and the working only
        _draw(out, lang, numbers)
    shown = {k: v for k, v in numbers.items() if k not in ("eps", "z", "running_mu", "running_sigma")}
    return Explanation("reparameterisation", text_of(numbers, lang), shown, out)


def text_of(n: dict, lang: str = "en") -> str:
    exact_mu, exact_sigma = f"{n['exact']['mu']:.4f}", f"{n['exact']['sigma']:.4f}"
    trick_mu, trick_sigma = f"{n['reparameterised']['mu']:.4f}", f"{n['reparameterised']['sigma']:.4f}"
    direct = f"{n['direct']['mu']:.4f}   {n['direct']['sigma']:.4f}"
    return "\n".join([
        f"z ~ N(μ = {n['mu']:g}, σ² = {n['sigma']:g}²); " + tr(lang, "loss f(z) = z², so E[f] = μ² + σ²",
                                                             "손실 f(z) = z², 따라서 E[f] = μ² + σ²"),
        tr(lang, "exact gradient:           ", "정확한 기울기:            ")
        + f" dE/dμ = 2μ = {exact_mu}   dE/dσ = 2σ = {exact_sigma}",
        tr(lang, f"z = μ + σ·ε, {n['samples']} samples:  mean of 2z = {trick_mu}   mean of 2z·ε = {trick_sigma}",
           f"z = μ + σ·ε, 표본 {n['samples']}개:  2z의 평균 = {trick_mu}   2z·ε의 평균 = {trick_sigma}"),
        f"z = torch.normal(μ, σ):      {direct}   " + tr(lang, "(autograd sees a random number, not a function of μ and σ)",
                                                        "(autograd에게 z는 μ, σ의 함수가 아니라 그냥 난수입니다)"),
    ])


def _draw(out: Path, lang: str, n: dict) -> None:
    with figure_style(lang):
        fig, ax = new_figure(1, 2, (12.0, 4.6))
        eps, z = np.array(n["eps"]), np.array(n["z"])
        bins = np.linspace(min(eps.min(), z.min()), max(eps.max(), z.max()), 50)
        ax[0, 0].hist(eps, bins=bins, alpha=0.5, label="ε ~ N(0, 1)")
        ax[0, 0].hist(z, bins=bins, alpha=0.5, label=f"z = {n['mu']:g} + {n['sigma']:g}·ε")
        top = ax[0, 0].get_ylim()[1]
        for e, value in zip(eps[:6], z[:6]):                       # a few samples: each ε is moved and scaled to z
            ax[0, 0].annotate("", xy=(value, 0.55 * top), xytext=(e, 0.85 * top), arrowprops={"arrowstyle": "->", "lw": 0.8})
        label(ax[0, 0], tr(lang, "sampling: draw ε, then move it", "표본 추출: ε 을 뽑은 뒤 옮긴다"), tr(lang, "value", "값"), tr(lang, "count", "개수"))
        count = np.arange(1, n["samples"] + 1)
        for key, colour in (("mu", "C0"), ("sigma", "C1")):
            name = "μ" if key == "mu" else "σ"
            ax[0, 1].plot(count, n[f"running_{key}"], color=colour, label=tr(lang, f"∂/∂{name}, z = μ + σ·ε", f"∂/∂{name}, z = μ + σ·ε"))
            ax[0, 1].axhline(n["exact"][key], color=colour, ls="--", lw=1, label=tr(lang, f"exact 2{name}", f"정확한 값 2{name}"))
        ax[0, 1].axhline(0.0, color="0.3", ls=":", lw=1.5, label=tr(lang, "z = torch.normal(μ, σ): 0", "z 를 직접 추출: 0"))
        ax[0, 1].set_xscale("log")
        label(ax[0, 1], tr(lang, "gradient of E[z²], averaged over samples", "E[z²] 의 기울기 (표본 평균)"),
              tr(lang, "samples (log scale)", "표본 수 (로그 눈금)"), tr(lang, "gradient", "기울기"))
        for panel in ax.flat:
            panel.legend(fontsize=8)
            panel.grid(alpha=0.3)
        caption = CAPTION[lang].format(gm=n["exact"]["mu"], gs=n["exact"]["sigma"])
        save_figure(fig, out, TITLE[lang], caption, lang)
