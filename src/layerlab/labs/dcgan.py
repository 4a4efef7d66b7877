"""Lab: DCGAN on MNIST. Course unit: GAN (생성적 적대 신경망): two networks trained against each other.

Goal: a generator that turns 100 random numbers into digits a judge cannot tell from real ones.
Shows: the two optimizer steps of one iteration (tasks/gan.py: D learns real -> 1, fake -> 0; then
G learns to make D say 1); the same 64 noise vectors drawn after every epoch (samples/ keeps each
grid; a figure shows them epoch by epoch); D's and G's losses with D(x) and D(G(z)).
Judged against the 10,000 real test images by a LeNet-5 trained here (>= 99% test accuracy, cached
under ~/.cache/layerlab/judges/, never downloaded): Fréchet distance in its features beside the
real-vs-real floor (goal within 3x), classifier Inception Score (real test images ~9.9; goal >= 9.0),
modes covered among 10,000 samples (goal 10 of 10, none above 15%), and a two-sample test (0.5 =
indistinguishable). Inception FID (5-10 for a good MNIST DCGAN in public reports) is not what this
lab computes: engine/generative_metrics.py says why.
Goal (defaults: width 32 with one extra 3x3 layer in G at 7x7 and four in D at 14x14, one more in G at 14x14 and 16
maps at 28x28 from which a 3x3 conv draws the pixels, batch 32, 5 epochs, Adam 3e-4 with betas (0, 0.99), bf16 where
the CPU has it, R1 penalty γ = 1 every 16th step, samples from a moving average of G's weights, decay 0.999): all
four figures above within <= 15 minutes of training on 2 CPU cores. The R1 penalty (`--r1`, tasks/gan.py) keeps D's
logit flat around the real images, so D no longer wins the game outright; the paper's two-layer D then is the weaker
player, and more layers (`--g-extra 1 --d-extra 4`, models/gan.py) teach G faster than more epochs of the paper's
networks do: D's second and third extra layers took the 6-epoch games' distance from 4.53 to 2.15 and 1.61, a fourth
the score past 9.0 (README). G's weights swing from epoch to epoch; their moving average (`--ema 0.999`, tasks/gan.py;
its decay ramps as (1 + n)/(10 + n) up to that) sits between the swings, and so lets the smaller batch's twice as
many (noisier) steps pay; in two games the decay 0.999 judged better than 0.995 at the same G (README). `--g-fine 1`
gives G a 3x3 layer at 14x14 where it draws the strokes, `--g-full 16` draws the pixels from 16 maps at full size;
R1 every 16th step instead of every 4th (`--r1-every 16`) buys time back. The paper's Adam (2e-4, betas (0.5,
0.999)) is tuned for its plain game; with R1 holding D steady, StyleGAN2's betas (0, 0.99) and a larger step, 3e-4,
let both networks follow the game faster (`--lr 2e-4 --beta1 0.5 --beta2 0.999`: the paper's).
Expected with the defaults (on a 2-core AVX-512 Xeon without bf16, so in float32, each run alone): seed 0 in 12 min
9 s (126-156 s an epoch; canary 259 -> 247 GFLOP/s): judge 0.9925; Fréchet 1.88 against a floor of 0.87 (2.2x: goal
3x met; G itself 10.8); Inception Score 9.06 against 9.74 for real test images (goal 9.0 met; G itself 8.79); 10 of
10 digits, the largest 11.4% (goal met); two-sample 0.543 against 0.519 for real vs real. Seed 1: 1.65 (2.1x its
floor 0.80), 9.08, 10.9%, 0.532 in 13 min 39 s (a slow phase: 147-196 s an epoch); seed 2: 1.90 (2.2x), 9.01, 11.9%,
0.527 in 12 min 2 s. Every goal met at all three seeds. The same runs sampled from the average at 0.995 (the same G):
1.99 (2.3x), 2.14 (2.7x), 2.48 (2.9x), IS 9.09, 8.97, 8.96. With three extra layers in D and the average at 0.995
(the defaults before; an earlier session): seed 0 1.69 (1.9x), IS 8.94 in 10 min 55 s; seed 1 1.89 (2.4x), 8.95;
with three and 0.999, seed 0 1.66 (1.9x), IS 8.94 in 10 min 22 s: the fourth layer is needed. Each of D's layers
costs time: a step with four costs 1.71x the one-layer D's (benchmarks/gan_layers.py, part 3: 1.17x, 1.46x, 1.71x
for two, three, four), so 5 epochs cost 1.4x what 6 of the one-layer D's did, whose 6 epochs took 12 min 13 s - 13
min 20 s on a 2-core AVX2 EPYC (canary 80-160): there this lab would take about 18-20 minutes (estimated, not
measured; `--d-extra 3` about 15-16), over the goal; the Xeon above multiplies matrices 1.5-3x as fast (canary
180-260).
With one extra layer in D and 6 epochs (the defaults before; on that EPYC): seed 0 2.80 (3.3x), IS 8.69, 12 min 45
s; seed 1 3.23 (4.1x its floor 0.79), 8.73; seed 2 4.63 (5.4x), 8.63; on the Xeon above, seed 0 3.81 (4.4x), 8.66 in
5 min 45 s (a fast phase, canary 283-316; an earlier session).
With Adam 2e-4, betas (0.5, 0.99) (the defaults before those): 4.01 (4.7x), 4.57 (5.8x), 4.52 (5.3x), IS 8.67, 8.58, 8.61
in 11 min 42 s - 12 min 20 s; with `--g-full 0` and betas (0.5, 0.999) as well: 7.65 (8.9x), 9.06 (11.4x), 7.87
(9.2x), IS 8.38, 8.30, 8.38. A judge trained 12 epochs (`--judge-epochs 12`: real test digits 9.90, the issue's
anchor 9.88) scores an older seed-0 run's samples IS 9.01 but Fréchet 15.1x its floor: a surer judge raises every
score and spreads every distance (README, benchmarks/gan_judges.py).
Without `g_fine` and with R1 every 4th step (the defaults before; a slow phase, 125-132 s an epoch): 9.55 (11.1x),
8.28, 11.9%, 0.601 in 13 min 19 s; seeds 1 and 2: 9.42 and 9.64. The defaults of before, run for 20 epochs (36.5
minutes of epochs), reached 3.59 (4.2x) and IS 8.72: more time alone does not meet the goals (README).
Earlier sessions: the paper's two layers (`--g-extra 0 --d-extra 0 --epochs 12`, 14 min 48 s) gave 27.8 (32x), 7.65, 12.8%, 0.678;
with batch 128 they needed 15 epochs (15 min 56 s) for 30.4 (35x), 7.57, 12.9%, 0.681; more epochs kept paying
(`--epochs 24`, 30 min 32 s: 14.9 (17x), 8.00, 12.5%, 0.636).
The plain game (`--r1 0 --g-extra 0 --d-extra 0 --batch-size 128 --epochs 36`, bf16) gave 56.3 (87x the floor of then), 7.24, 16.9%, 0.730,
with D winning (D(x) 0.82, D(G(z)) 0.18); in it EMA of G, width 64, batch 64, label smoothing, two learning rates and
spectral norm did no better per epoch (README: "DCGAN recipes tried"). For scale
(benchmarks/gan_metric_calibration.py): real training digits score 0.9x the floor, with noise of sd 0.05
3.2x, moved by one pixel 6.6x, blurred (sigma 0.5) 19x; without any 9s, IS 8.87.
`--width 64` gives the usual tutorial widths (4x the multiply-adds of the middle convolutions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch

from layerlab.data import get_dataset
from layerlab.data.download import cache_dir
from layerlab.engine import RunDir, fit
from layerlab.engine.loop import History
from layerlab.engine.card import ModelCard
from layerlab.engine.generative_metrics import judge_for, judge_samples
from layerlab.inspect import summary
from layerlab.labs.base import LabConfig, LabResult, Note, option, register_lab
from layerlab.models import get_model
from layerlab.models.gan import dcgan_init_
from layerlab.tasks.gan import GanStep, generate, real_and_noise, save_grid
from layerlab.viz.gan import plot_game, plot_progression, plot_verdict


@dataclass(frozen=True)
class DcganConfig(LabConfig):
    dataset: str = option("mnist", "the images to imitate (the judge is trained on the same dataset)",
                          choices=("mnist", "fashion-mnist"))
    latent: int = option(100, "length of the noise vector z")
    width: int = option(32, "channels of the 14x14 maps (64: the usual tutorial width)")
    g_extra: int = option(1, "3x3 stride-1 conv layers G adds at 7x7 (0: the paper's plan; module docstring)")
    d_extra: int = option(4, "3x3 stride-1 conv layers D adds at 14x14 (0: the paper's plan; module docstring)")
    g_fine: int = option(1, "3x3 stride-1 conv layers G adds at 14x14, before the pixels (0: none; module docstring)")
    g_full: int = option(16, "maps G makes at 28x28 for a 3x3 conv to draw the pixels from (0: its transposed conv draws them)")
    epochs: int = 5                # 5 epochs of the deeper D cost 1.4x what 6 of the one-layer D's did (module docstring)
    batch_size: int = 32           # 4x the steps of the paper's 128 for 1.15x batch 64's seconds per epoch
    lr: float = 3e-4               # Adam for both networks (the DCGAN paper's 2e-4: `--lr 2e-4`; module docstring)
    beta1: float = option(0.0, "Adam's beta1 for both networks (StyleGAN2's with R1; the paper's 0.5, README)")
    beta2: float = option(0.99, "Adam's beta2 for both networks (StyleGAN's; 0.999 is torch's, README)")
    r1: float = option(1.0, "weight of the R1 penalty on D's gradient at real images (0: the paper's plain game)")
    r1_every: int = option(16, "D pays the R1 penalty every this many steps, times this many (StyleGAN2's lazy R1)")
    ema: float = option(0.999, "samples come from a moving average of G's weights with this decay "
                               "(tasks/gan.py; 0: from G itself)")
    samples: int = option(10_000, "generated images the judge scores")
    judge_epochs: int = option(4, "LeNet-5 judge epochs (about 0.992 test accuracy on MNIST)")
    channels_last: bool = option(True, "channels_last memory layout: faster convolutions on a CPU, same numbers")
    amp: bool = option(True, "bf16 autocast of both networks' forwards (losses in float32): ~1.5x faster on a CPU "
                              "with AVX-512 BF16")


@register_lab("dcgan", config=DcganConfig, title="DCGAN on MNIST: a generator and a discriminator in a game",
              unit="GAN: 생성자와 판별자, 적대적 학습", metric="frechet_ratio", higher_is_better=False)
def dcgan(cfg: DcganConfig, run: RunDir) -> LabResult:
    # 1. Data: uint8 digits (N, 1, 28, 28); the batch transform scales them to [-1, 1] and draws z
    train = get_dataset(cfg.dataset, split="train", root=cfg.data_dir or None)
    test = get_dataset(cfg.dataset, split="test", root=cfg.data_dir or None)
    samples = cfg.samples
    if cfg.quick:
        train, test, samples = train.subset(slice(0, 512)), test.subset(slice(0, 256)), 256
    # 2. Models: G turns z (B, 100) into (B, 1, 28, 28); D turns an image into one logit (B,)
    overrides = {"latent": cfg.latent, "width": cfg.width, "channels": train.inputs.shape[1],
                 "g_extra": cfg.g_extra, "d_extra": cfg.d_extra, "g_fine": cfg.g_fine, "g_full": cfg.g_full,
                 "average": cfg.ema != 0}                                   # a negative decay: GanStep's error
    gan = dcgan_init_(get_model("dcgan", **overrides), torch.Generator().manual_seed(cfg.seed))   # N(0, 0.02)
    table = summary(gan.generator, (cfg.latent,))
    # 3. Train: each iteration is D's Adam step, then G's (tasks/gan.py); the same 64 z after every epoch
    step = GanStep(gan.generator, gan.discriminator, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), amp=cfg.amp, r1=cfg.r1,
                   r1_every=cfg.r1_every, average=gan.average, ema=cfg.ema)  # samples come from gan.sampler
    fixed_z = torch.randn(64, cfg.latent, generator=torch.Generator().manual_seed(cfg.seed + 1))
    (run.path / "samples").mkdir(exist_ok=True)

    def draw_fixed_noise(row: dict) -> None:
        save_grid(generate(gan.sampler, fixed_z), run.path / "samples" / f"epoch_{row['epoch']:03d}.png")

    history = fit(step, train, epochs=min(cfg.epochs, 2) if cfg.quick else cfg.epochs, batch_size=cfg.batch_size, device=cfg.device,
                  seed=cfg.seed, transform=real_and_noise(cfg.latent, channels_last=cfg.channels_last),
                  channels_last=cfg.channels_last, run=run, progress=cfg.progress, log=draw_fixed_noise)
    # 4. Judge: a LeNet-5 trained on the real training images scores 10,000 fresh samples
    cache = None if cfg.quick else cache_dir() / "judges" / f"lenet5-{cfg.dataset}-e{cfg.judge_epochs}.safetensors"
    judge = judge_for(train, test, cache=cache, epochs=1 if cfg.quick else cfg.judge_epochs, progress=cfg.progress)
    z = judged_noise(cfg.seed, samples, cfg.latent)
    generated = generate(gan.sampler, z)                                      # (N, 1, 28, 28) in [0, 1]
    itself = {} if gan.average is None else {"generator": generate(gan.generator, z)}   # G itself, for comparison
    numbers = judge_samples(judge, generated, train.inputs, test.inputs, seed=cfg.seed, others=itself)
    # 5. Report: the numbers beside their floors, the progression, the game's curves
    figures = _figures(run, history, generated, numbers, test.classes, cfg.lang)
    metrics = {key: float(numbers[key]) for key in ("frechet", "frechet_floor", "frechet_ratio", "inception_score",
                                                    "inception_score_real", "modes_covered", "largest_class_share",
                                                    "two_sample_accuracy", "two_sample_floor", "judge_test_accuracy",
                                                    "frechet_generator", "inception_score_generator") if key in numbers}
    metrics.update({k: history.last[f"train_{k}"] for k in ("d_loss", "g_loss", "d_real", "d_fake")})
    card = ModelCard(model="dcgan", overrides=overrides, input_shape=(cfg.latent,), task="gan", loss="bce_with_logits",
                     classes=test.classes, mean=(0.5,), std=(0.5,), dataset=cfg.dataset, data_dir=cfg.data_dir or None,
                     data_source=train.meta.get("source"), test_split="",
                     extra={"judged_by": "judged inside its lab by a LeNet-5 (see report.md)"})
    shares = [{"class": c, "share": s} for c, s in zip(test.classes, numbers["class_shares"])]
    return LabResult(metrics=metrics, history=history, summary=table, card=card, notes=_notes(numbers, samples, gan, cfg.ema),
                     tables={"Classes among the generated samples (judge's prediction)": shares}, figures=figures)


def _figures(run: RunDir, history: History, generated: torch.Tensor, numbers: dict, classes: tuple[str, ...],
             lang: str) -> list[Path]:
    """samples.png (64 fresh samples), the fixed-noise progression, the game's curves and the judge's verdict."""
    # at most 8 epochs, first and last, of those with a grid (a kill between checkpoint and drawing leaves a gap)
    epochs = [row["epoch"] for row in history.epochs if (run.path / "samples" / f"epoch_{row['epoch']:03d}.png").is_file()]
    shown = sorted({epochs[round(i * (len(epochs) - 1) / 7)] for i in range(8)}) if epochs else []
    figures = [save_grid(generated[:64], run.figures / "samples.png")]
    if shown:
        figures.append(run.save_figure(plot_progression([(e, _first_row(run, e)) for e in shown], lang=lang), "progression"))
    figures += [run.save_figure(plot_game(history.epochs), "game"), run.save_figure(plot_verdict(numbers, classes, lang), "verdict")]
    return figures


def _notes(numbers: dict, samples: int, gan: torch.nn.Module, ema: float) -> list[Note]:
    sizes = {name: sum(p.numel() for p in getattr(gan, name).parameters()) for name in ("generator", "discriminator")}
    g, d, fewer = f"{sizes['generator']:,}", f"{sizes['discriminator']:,}", f"{sizes['generator'] / sizes['discriminator']:.1f}"
    fd, floor, ratio = f"{numbers['frechet']:.2f}", f"{numbers['frechet_floor']:.2f}", f"{numbers['frechet_ratio']:.1f}"
    spread = f"{numbers['frechet_floor_sd']:.2f}"
    score, real, judge = f"{numbers['inception_score']:.2f}", f"{numbers['inception_score_real']:.2f}", f"{numbers['judge_test_accuracy']:.4f}"
    covered, n, largest = numbers["modes_covered"], f"{samples:,}", f"{numbers['largest_class_share']:.1%}"
    fake_acc, real_acc, warning = f"{numbers['two_sample_accuracy']:.3f}", f"{numbers['two_sample_floor']:.3f}", numbers["mode_warning"]
    averaged = [] if "frechet_generator" not in numbers else [Note(
        f"The samples come from a moving average of G's weights (decay {ema}, tasks/gan.py); G's own weights, as "
        f"its last step left them, score Fréchet {numbers['frechet_generator']:.2f} and Inception Score "
        f"{numbers['inception_score_generator']:.2f} on the same noise.",
        f"표본은 G 가중치의 이동 평균 (감쇠 {ema}, tasks/gan.py)에서 나옵니다; 마지막 스텝 직후의 G 자신의 가중치는 "
        f"같은 잡음에서 Fréchet {numbers['frechet_generator']:.2f}, Inception Score "
        f"{numbers['inception_score_generator']:.2f}입니다.")]
    return [
        Note(f"summary.txt lists the generator ({g} parameters, noise to image); the discriminator has {d} ({fewer}x "
             "fewer), but runs three times an iteration: on real images, on G's for its own step, and on G's again for G's step.",
             f"summary.txt는 생성자 (파라미터 {g}개, 잡음 -> 이미지)를 보여 줍니다; 판별자는 {d}개로 {fewer}배 적지만 "
             "반복마다 세 번 실행됩니다: 진짜 이미지에, 자기 스텝을 위해 G의 이미지에, G의 스텝을 위해 다시 G의 이미지에."),
        Note(f"Fréchet distance {fd} in the judge's 84 penultimate features; {n} real training images (as many as "
             f"generated) vs the real test images give {floor} ± {spread} (the floor, over disjoint draws): {ratio}x the floor.",
             f"심판 모델의 끝에서 두 번째 층 특징 84개에서 잰 Fréchet 거리 {fd}; 진짜 학습 이미지 {n}개 (생성한 수만큼) 대 "
             f"진짜 테스트 이미지는 {floor} ± {spread} (하한, 겹치지 않는 추출들의 평균)이므로 하한의 {ratio}배입니다."),
        Note(f"Classifier Inception Score {score} (real test images: {real}; at most 10, when every sample is one sure "
             "digit and all digits are equally many).",
             f"분류기 Inception Score {score} (진짜 테스트 이미지: {real}; 모든 표본이 확실한 한 숫자이고 모든 숫자가 "
             "같은 수만큼 나올 때 최대 10)."),
        Note(f"{covered} of 10 digits among {n} samples; the largest takes {largest} (a fair share is 10%).",
             f"표본 {n}개 중 숫자 10개 가운데 {covered}개가 나옴; 가장 많은 숫자가 {largest}를 차지 (공평한 몫은 10%)."),
        Note(warning, _korean_warning(warning)) if warning else
        Note("No mode collapse: every digit is generated, none far more often than the others.",
             "모드 붕괴 없음: 모든 숫자가 생성되고, 어느 숫자도 다른 숫자보다 훨씬 자주 나오지 않습니다."),
        *averaged,
        Note("Two-sample test: a linear classifier on the judge's features tells generated from real with held-out accuracy "
             f"{fake_acc} (real vs real: {real_acc}; 0.5 = cannot tell).",
             f"두 표본 검정: 심판 모델의 특징 위의 선형 분류기가 생성 이미지와 진짜를 구별하는 평가용 정확도 {fake_acc} "
             f"(진짜 대 진짜: {real_acc}; 0.5 = 구별 못 함)."),
        Note("Not Inception FID: the published MNIST figures (5-10) use an ImageNet Inception-v3 whose weights cannot be "
             "downloaded here and which was never trained on digits; these numbers come from a LeNet-5 trained on MNIST "
             f"(test accuracy {judge}) and are comparable only with each other and their floors.",
             "Inception FID가 아닙니다: 발표된 MNIST 수치 (5-10)는 ImageNet Inception-v3를 쓰는데, 그 가중치는 여기서 "
             "내려받을 수 없고 숫자로 학습된 적도 없습니다; 이 숫자는 MNIST로 학습한 LeNet-5 "
             f"(테스트 정확도 {judge})에서 나온 것이라 서로, 그리고 하한과만 비교할 수 있습니다."),
        Note("D loss near 2·ln 2 = 1.39 and D(x) ≈ D(G(z)) ≈ 0.5 would mean D cannot tell; a D loss falling towards 0 means D wins.",
             "D 손실이 2·ln 2 = 1.39 근처이고 D(x) ≈ D(G(z)) ≈ 0.5이면 판별자가 구별하지 못하는 것이고, "
             "D 손실이 0으로 떨어지면 판별자가 이기고 있는 것입니다."),
    ]


def _korean_warning(warning: str) -> str:
    """generative_metrics' mode-collapse sentence in Korean, its numbers as they were."""
    text = warning.replace("mode collapse: ", "모드 붕괴: ")
    text = re.sub(r"(\d+) of (\d+) classes covered \(missing (\[[^]]*\])\)", r"클래스 \2개 중 \1개만 나옴 (빠진 클래스 \3)", text)
    return re.sub(r"class (\d+) takes ([\d.]+%) of the samples \(a fair share is (\d+%), at most (\d+%) expected\)",
                  r"클래스 \1이 표본의 \2를 차지 (공평한 몫은 \3, 예상 최대 \4)", text)


def _first_row(run: RunDir, epoch: int) -> torch.Tensor:
    """The first row (8 images) of an epoch's fixed-noise grid, read back from samples/epoch_NNN.png
    (a resumed run drew its earlier epochs before the kill: the folder, not memory, holds them all)."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(run.path / "samples" / f"epoch_{epoch:03d}.png"))[::2, ::2]   # undo the 2x scale
    row = [pixels[2:30, 2 + 30 * i : 30 + 30 * i] for i in range(8)]                           # 28x28 tiles, 2 px apart
    return torch.from_numpy(np.stack(row)).float().div(255).unsqueeze(1)


def judged_noise(seed: int, samples: int, latent: int) -> torch.Tensor:
    """The noise of the samples a run with this seed is judged on (seed draws the weights, seed + 1 the fixed grid):
    benchmarks/gan_judges.py and gan_truncation.py draw a finished run's samples again from it."""
    return torch.randn(samples, latent, generator=torch.Generator().manual_seed(seed + 2))
