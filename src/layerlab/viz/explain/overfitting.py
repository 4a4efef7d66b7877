"""`layerlab explain overfitting [--seed S]`: train vs validation error as model capacity grows.

Course note 004: a training error of 0 is not the goal, because the model can get worse on
data it did not train on (overfitting); k-fold cross-validation takes turns using each part of
the training data for validation; and the bias-variance trade-off: reducing bias raises
variance and the other way round.

The experiment: 20 noisy samples of sin(πx), fitted by least-squares polynomials of degree
0..12 (capacity grows with the degree), scored on 300 fresh samples and by 5-fold
cross-validation. Bias² and variance come from refitting on 500 fresh draws of the noise.

What to notice: the training error only goes down as the degree grows, while the validation
error falls and then rises again (a U); cross-validation finds the bottom of the U without
touching the validation set.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from layerlab.data.splits import kfold_indices
from layerlab.viz.explain.base import Explanation, expect_at_most, pad, register_topic
from layerlab.viz.style import figure_style, label, new_figure, save_figure, tr

DEGREES = tuple(range(13))
N_TRAIN, N_VAL, NOISE, FOLDS, RESAMPLES = 20, 300, 0.3, 5, 500
USAGE = "layerlab explain overfitting [--seed S]"

# the figure's title and its caption: what to notice
TITLE = {
    "en": "Overfitting: training vs validation error",
    "ko": "과적합 (Overfitting): 학습 오차와 검증 오차",
}
CAPTION = {
    "en": (
        "Notice that the training error keeps falling as the degree grows while the validation error "
        "turns back up, and that cross-validation finds the bottom of that U."
    ),
    "ko": (
        "차수가 커질수록 학습 오차는 계속 줄지만 검증 오차는 다시 올라가며(과적합), 교차 "
        "검증(cross-validation)이 그 U자의 바닥을 찾아낸다는 점에 주목하세요."
    ),
}


def true_function(x: np.ndarray) -> np.ndarray:
    return np.sin(np.pi * x)


def sample(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n points x in [-1, 1] with targets sin(πx) + Gaussian noise (std 0.3)."""
    x = rng.uniform(-1, 1, n)
    return x, true_function(x) + rng.normal(0, NOISE, n)


def fit(x: np.ndarray, y: np.ndarray, degree: int) -> np.ndarray:
    """Least-squares polynomial coefficients (Legendre basis: well conditioned on [-1, 1])."""
    return np.polynomial.legendre.legfit(x, y, degree)


def mse(coef: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((np.polynomial.legendre.legval(x, coef) - y) ** 2))


def cross_validation(x: np.ndarray, y: np.ndarray, degree: int, k: int = FOLDS, seed: int = 0) -> list[float]:
    """Validation MSE of each of the k folds: train on k-1 parts, score on the held-out one."""
    scores = []
    for train_idx, val_idx in kfold_indices(len(x), k, seed):
        t, v = train_idx.numpy(), val_idx.numpy()
        scores.append(mse(fit(x[t], y[t], degree), x[v], y[v]))
    return scores


def bias_variance(x: np.ndarray, degree: int, seed: int = 0) -> tuple[float, float]:
    """Bias² and variance of a degree's predictions over [-1, 1], averaged over x.

    The training inputs x stay fixed and only the noise is redrawn. Bias² is how far the
    average fit is from sin(πx); least squares is linear in the targets, so the average fit is
    exactly the fit to the noise-free targets. Variance is how much single fits scatter.
    """
    grid = np.linspace(-1, 1, 200)
    average_fit = np.polynomial.legendre.legval(grid, fit(x, true_function(x), degree))
    bias2 = float(np.mean((average_fit - true_function(grid)) ** 2))
    rng = np.random.default_rng(seed + 1000)
    targets = true_function(x)[:, None] + rng.normal(0, NOISE, (len(x), RESAMPLES))  # (N, R): R training sets
    preds = np.polynomial.legendre.legval(grid, fit(x, targets, degree))  # (R, 200): one fit per column
    return bias2, float(np.mean(preds.var(0)))


def overfitting_numbers(seed: int = 0, degrees: Sequence[int] = DEGREES) -> dict:
    """Train, validation and k-fold errors, bias² and variance for every polynomial degree."""
    rng = np.random.default_rng(seed)
    x, y = sample(N_TRAIN, rng)
    xv, yv = sample(N_VAL, rng)
    rows = {"train_mse": [], "val_mse": [], "cv_mse": [], "cv_folds": [], "bias2": [], "variance": []}
    for degree in degrees:
        coef = fit(x, y, degree)
        folds = cross_validation(x, y, degree, seed=seed)
        bias2, variance = bias_variance(x, degree, seed)
        values = (mse(coef, x, y), mse(coef, xv, yv), float(np.mean(folds)), folds, bias2, variance)
        for key, value in zip(rows, values):
            rows[key].append(value)
    return {
        "seed": seed, "degrees": list(degrees), "n_train": N_TRAIN, "n_val": N_VAL,
        "noise_var": NOISE**2, "folds": FOLDS,
        **rows,
        "best_degree_val": int(degrees[int(np.argmin(rows["val_mse"]))]),
        "best_degree_cv": int(degrees[int(np.argmin(rows["cv_mse"]))]),
        "train_x": x.tolist(), "train_y": y.tolist(),
    }


@register_topic(
    "overfitting",
    description="train vs validation error as polynomial degree grows, 5-fold cross-validation, "
    "bias-variance trade-off",
    usage=USAGE,
    options=("seed",),
)
def overfitting(args: Sequence[str], *, out: Path, lang: str, seed: int = 0) -> Explanation:
    expect_at_most(args, 0, USAGE)
    numbers = overfitting_numbers(seed)
    if out is not None:  # None: --no-figure, the numbers and the working only
        _draw(out, lang, numbers)
    return Explanation("overfitting", text_of(numbers, lang), numbers, out)


def text_of(numbers: dict, lang: str = "en") -> str:
    n_train, n_val, folds, noise = numbers["n_train"], numbers["n_val"], numbers["folds"], f"{numbers['noise_var']:.2f}"
    best_val, best_cv = numbers["best_degree_val"], numbers["best_degree_cv"]
    header = [tr(lang, *words) for words in (("degree", "차수"), ("train", "학습"), ("valid", "검증"),
                                             ("k-fold", "k-fold"), ("bias²", "bias²"), ("variance", "분산"))]
    lines = [
        tr(lang, f"{n_train} training points of sin(πx) + noise (variance {noise}), {n_val} validation points, "
                 f"{folds}-fold cross-validation",
           f"학습 데이터 {n_train}개: sin(πx) + 노이즈 (분산 {noise}), 검증 데이터 {n_val}개, {folds}-fold 교차 검증"),
        pad(header[0], 6, right=True) + " " + " ".join(pad(h, 9, right=True) for h in header[1:]),
    ]
    for i, d in enumerate(numbers["degrees"]):
        cells = (numbers[k][i] for k in ("train_mse", "val_mse", "cv_mse", "bias2", "variance"))
        lines.append(f"{d:>6} " + " ".join(f"{v:9.4f}" if v < 1e4 else f"{v:9.2e}" for v in cells))
    lines += [
        tr(lang, "the training error only falls as the degree grows; the validation error falls, then rises (overfitting)",
           "차수가 커질수록 학습 오차는 줄기만 하고, 검증 오차는 줄다가 다시 커집니다 (과적합)"),
        tr(lang, f"best degree by validation: {best_val}; by {folds}-fold cross-validation: {best_cv}",
           f"검증 오차로 고른 최적 차수: {best_val}; {folds}-fold 교차 검증으로 고른 최적 차수: {best_cv}"),
        tr(lang, "bias² falls and variance rises with the degree: the bias-variance trade-off",
           "차수가 커지면 bias²는 줄고 분산은 커집니다: 편향-분산 트레이드오프"),
    ]
    return "\n".join(lines)


def bias_variance_panel(ax: Any, numbers: dict, lang: str) -> None:
    """bias², variance and their sum with the noise per degree, on a log axis that reaches down to
    the smallest of them: a high degree fits sin(πx) almost exactly (bias² near 1e-13), and that
    fall is the point, so the curve must not drop off the axis."""
    degrees = numbers["degrees"]
    ax.semilogy(degrees, numbers["bias2"], "o-", label="bias²")
    ax.semilogy(degrees, numbers["variance"], "s-", label="variance")
    total = np.array(numbers["bias2"]) + np.array(numbers["variance"]) + numbers["noise_var"]
    ax.semilogy(degrees, total, "k--", label=tr(lang, "bias² + variance + noise", "bias² + variance + 노이즈"))
    lowest = min(min(numbers["bias2"]), min(numbers["variance"]))
    ax.set_ylim(bottom=lowest / 3)   # a third below the lowest point: a margin of half a decade
    label(ax, tr(lang, "bias-variance trade-off", "편향-분산 트레이드오프 (bias-variance)"),
          tr(lang, "polynomial degree (capacity)", "다항식 차수 (복잡도)"), tr(lang, "error (log)", "오차 (로그)"))


def _draw(out: Path, lang: str, numbers: dict) -> None:
    x, y = np.array(numbers["train_x"]), np.array(numbers["train_y"])
    grid = np.linspace(-1, 1, 400)
    degrees = numbers["degrees"]
    shown = sorted({1, numbers["best_degree_cv"], degrees[-1]})
    with figure_style(lang):
        fig, ax = new_figure(1, 3, (13.0, 4.9))
        ax[0, 0].plot(x, y, "k.", ms=6, label=tr(lang, "training data", "학습 데이터"))
        ax[0, 0].plot(grid, true_function(grid), color="0.6", ls="--", label="sin(πx)")
        for d in shown:
            curve = np.polynomial.legendre.legval(grid, fit(x, y, d))
            ax[0, 0].plot(grid, curve, label=tr(lang, f"degree {d}", f"{d}차"))
        ax[0, 0].set_ylim(-2, 2)
        label(ax[0, 0], tr(lang, "underfit, good fit, overfit", "과소적합, 적절, 과적합"), "x", "y")
        ax[0, 1].semilogy(degrees, numbers["train_mse"], "o-", label=tr(lang, "training error", "학습 오차 (train)"))
        ax[0, 1].semilogy(degrees, numbers["val_mse"], "s-", label=tr(lang, "validation error", "검증 오차 (validation)"))
        k = numbers["folds"]
        cross = tr(lang, f"{k}-fold cross-validation", f"{k}-겹 교차 검증")
        ax[0, 1].semilogy(degrees, numbers["cv_mse"], "^--", label=cross)
        ax[0, 1].axvline(numbers["best_degree_cv"], color="0.5", ls=":")
        label(ax[0, 1], tr(lang, "error vs model capacity", "모델 복잡도에 따른 오차"),
              tr(lang, "polynomial degree (capacity)", "다항식 차수 (복잡도)"),
              tr(lang, "mean squared error (log)", "평균 제곱 오차 (로그)"))
        bias_variance_panel(ax[0, 2], numbers, lang)
        for panel in ax.flat:
            panel.legend(fontsize=8)
            panel.grid(alpha=0.3)
        save_figure(fig, out, TITLE[lang], CAPTION[lang], lang)
