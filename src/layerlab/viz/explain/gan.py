"""`layerlab explain gan-game`: the GAN game on 1-D data, the discriminator's boundary moving step by step.

Course unit: GAN (the generator forges, the discriminator inspects; each learns from the other).
Real data: 256 numbers from N(3, 0.5²). Generator: G(z) = a·z + b with z ~ N(0, 1), starting at
a = 1, b = -2 (its fakes sit around -2). Discriminator: D(x) = sigmoid(w₂·x²/10 + w₁·x + w₀), so it
can call an interval "real". Each step is the dcgan lab's iteration in miniature: D's Adam step
(real -> 1, fake -> 0), then G's (make D say 1), both at 0.05 with beta1 = 0.5.

What to notice: D first draws a boundary between the fakes and the real data; G's step moves the
fakes across it; D redraws it where the fakes now are. When the fakes sit on the real data, D(x)
is about 0.5 for both: it cannot tell. And the fakes' spread shrinks to almost nothing: G found
that one convincing value is enough — a 1-D picture of mode collapse, which the dcgan lab checks
for by counting the digits among its samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from layerlab.errors import LayerlabError
from layerlab.viz.explain.base import Explanation, expect_at_most, parse_int, register_topic
from layerlab.viz.style import figure_style, label, new_figure, save_figure, tr

SNAPSHOTS = (0, 10, 30, 60, 150)
REAL_MEAN, REAL_STD = 3.0, 0.5
GRID = np.linspace(-6.0, 8.0, 561)
USAGE = "layerlab explain gan-game [STEPS]   (the last step drawn, 60 to 1000; default 150) [--seed S]"

TITLE = {"en": "The GAN game in 1-D: the discriminator's boundary follows the fakes",
         "ko": "1차원 GAN 게임: 판별자의 결정 경계가 가짜를 따라 움직인다"}
CAPTION = {
    "en": ("Notice that D first separates fakes from real data, G then pushes its fakes across the boundary, and D "
           "redraws it; at the end D(x) ≈ {end_real:.2f} on real and {end_fake:.2f} on fake data (0.5: it cannot "
           "tell), and the fakes' spread has shrunk from 1 to {end_std:.3f}: mode collapse in one dimension."),
    "ko": ("판별자가 먼저 가짜와 진짜를 가르고, 생성자가 가짜를 경계 너머로 옮기면 판별자가 경계를 다시 긋는다는 점에 주목하세요. "
           "끝에서 D(x)는 진짜 {end_real:.2f}, 가짜 {end_fake:.2f} (0.5: 구별 못 함)이고, 가짜의 퍼짐은 1에서 "
           "{end_std:.3f}로 줄었습니다: 1차원의 모드 붕괴."),
}


def _logit(x: Tensor, d: Tensor) -> Tensor:
    return d[0] * x * x / 10 + d[1] * x + d[2]


def boundaries(d: Sequence[float]) -> list[float]:
    """Where D(x) = 0.5 on the drawn range, i.e. where w₂·x²/10 + w₁·x + w₀ changes sign."""
    values = d[0] * GRID**2 / 10 + d[1] * GRID + d[2]
    above = values >= 0
    crossings = np.nonzero(above[:-1] != above[1:])[0]
    # linear interpolation between the two grid points around each sign change
    return [float(GRID[i] - values[i] * (GRID[i + 1] - GRID[i]) / (values[i + 1] - values[i])) for i in crossings]


def gan_game_numbers(last: int = SNAPSHOTS[-1], seed: int = 0, lr: float = 0.05) -> dict:
    """Play the game for `last` steps; the state at each snapshot step (0, 10, 30, 60, last)."""
    g = torch.Generator().manual_seed(seed)
    real = REAL_MEAN + REAL_STD * torch.randn(256, generator=g, dtype=torch.float64)
    z = torch.randn(256, generator=g, dtype=torch.float64)
    gen = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)       # a, b of G(z) = a·z + b
    disc = torch.zeros(3, dtype=torch.float64, requires_grad=True)               # w₂, w₁, w₀: D(x) = 0.5 everywhere
    opt_d = torch.optim.Adam([disc], lr=lr, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam([gen], lr=lr, betas=(0.5, 0.999))
    ones, zeros = torch.ones(256, dtype=torch.float64), torch.zeros(256, dtype=torch.float64)
    snaps = []
    for step in range(last + 1):
        fake = gen[0] * z + gen[1]
        if step in SNAPSHOTS[:-1] or step == last:
            snaps.append(_snapshot(step, real, fake.detach(), disc.detach()))
        if step == last:
            break
        d_loss = F.binary_cross_entropy_with_logits(_logit(real, disc), ones) + \
            F.binary_cross_entropy_with_logits(_logit(fake.detach(), disc), zeros)
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()                                   # 1. D: real -> 1, fake -> 0
        g_loss = F.binary_cross_entropy_with_logits(_logit(fake, disc), ones)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()                                   # 2. G: make the new D say 1
    return {"real_mean": float(real.mean()), "real_std": float(real.std()), "snapshots": snaps, "real": real.tolist()}


def _snapshot(step: int, real: Tensor, fake: Tensor, disc: Tensor) -> dict:
    return {"step": step, "fake_mean": float(fake.mean()), "fake_std": float(fake.std()),
            "d_real": float(torch.sigmoid(_logit(real, disc)).mean()),
            "d_fake": float(torch.sigmoid(_logit(fake, disc)).mean()),
            "boundaries": boundaries(disc.tolist()), "discriminator": disc.tolist(), "fake": fake.tolist()}


@register_topic("gan-game", description="the GAN game on 1-D data: D's decision boundary moving as G learns",
                usage=USAGE, options=("seed",))
def gan_game(args: Sequence[str], *, out: Path, lang: str, seed: int = 0) -> Explanation:
    expect_at_most(args, 1, USAGE)
    last = parse_int(args[0], "STEPS") if args else SNAPSHOTS[-1]
    if not 60 < last <= 1000:
        raise LayerlabError(f"STEPS must be more than 60 (the last snapshot before it) and at most 1000, got {last}")
    numbers = gan_game_numbers(last, seed)
    if out is not None:  # None: --no-figure, the numbers and the working only
        _draw(out, lang, numbers)
    slim = {**numbers, "snapshots": [{k: v for k, v in s.items() if k != "fake"} for s in numbers["snapshots"]]}
    del slim["real"]
    return Explanation("gan-game", text_of(numbers, lang), slim, out)


def text_of(numbers: dict, lang: str = "en") -> str:
    real = f"N({REAL_MEAN:g}, {REAL_STD:g}²)"
    lines = [tr(lang, f"real data: 256 draws of {real}; G(z) = a·z + b starts at a = 1, b = -2; "
                      "D(x) = sigmoid(w₂·x²/10 + w₁·x + w₀) starts at 0.5 everywhere",
                f"진짜 데이터: {real}에서 뽑은 256개; 생성자 G(z) = a·z + b는 a = 1, b = -2에서 시작; "
                "판별자 D(x) = sigmoid(w₂·x²/10 + w₁·x + w₀)는 어디서나 0.5에서 시작"),
             tr(lang, "each step: D's Adam step (real -> 1, fake -> 0), then G's (make D say 1)",
                "매 단계: 판별자의 Adam 스텝 (진짜 -> 1, 가짜 -> 0), 이어서 생성자의 스텝 (판별자가 1이라고 답하도록)")]
    for s in numbers["snapshots"]:
        where = ", ".join(f"{b:.2f}" for b in s["boundaries"]) or tr(lang, "none", "없음")
        fakes, d_real, d_fake = f"{s['fake_mean']:6.2f} ± {s['fake_std']:.3f}", f"{s['d_real']:.2f}", f"{s['d_fake']:.2f}"
        lines.append(tr(lang, f"step {s['step']:>4}: fakes {fakes}   D(real) {d_real}  D(fake) {d_fake}   "
                              f"D = 0.5 at x = {where}",
                        f"{s['step']:>4}단계: 가짜 {fakes}   D(진짜) {d_real}  D(가짜) {d_fake}   "
                        f"D = 0.5인 x = {where}"))
    return "\n".join(lines)


def _draw(out: Path, lang: str, numbers: dict) -> None:
    snaps = numbers["snapshots"]
    with figure_style(lang):
        fig, ax = new_figure(1, len(snaps), (3.2 * len(snaps), 4.8))
        bins = np.linspace(-6, 8, 57)
        for panel, s in zip(ax[0], snaps):
            panel.hist(numbers["real"], bins=bins, density=True, color="0.6", alpha=0.7, label=tr(lang, "real", "진짜"))
            panel.hist(s["fake"], bins=bins, density=True, color="C1", alpha=0.6, label=tr(lang, "fake G(z)", "가짜 G(z)"))
            d = torch.sigmoid(_logit(torch.from_numpy(GRID), torch.tensor(s["discriminator"]))).numpy()
            panel.plot(GRID, d, color="C0", label="D(x)")
            for b in s["boundaries"]:
                panel.axvline(b, color="C0", ls="--", lw=0.9)
            panel.set_ylim(0, 1.6)
            label(panel, tr(lang, f"step {s['step']}", f"{s['step']}단계"), "x", "")
            panel.legend(fontsize=7, loc="upper left")
        end = snaps[-1]
        save_figure(fig, out, TITLE[lang], CAPTION[lang].format(end_real=end["d_real"], end_fake=end["d_fake"],
                                                                 end_std=end["fake_std"]), lang)
