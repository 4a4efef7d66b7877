"""Lab: fit y = a + b·x + c·x² + d·x³ to sin(x). Course unit: the artificial neural network (2주차).

Goal: the course's first exercise exactly — 2,000 points on [-π, π], random a, b, c, d, the sum of
squared errors, learning rate 1e-6, 2,000 iterations, gradients written by hand.
Expected: coefficients within 0.05 of the least-squares cubic (a ≈ 0, b ≈ 0.857, c ≈ 0, d ≈ -0.093).
Variants: `--method autograd` (loss.backward() finds the same gradients) and `--method optim`
(torch.optim.SGD does the update, through layerlab's `fit`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from layerlab.data import get_dataset
from layerlab.engine import History, RunDir, fit
from layerlab.engine.card import ModelCard
from layerlab.engine.checkpoint import save_weights
from layerlab.errors import LayerlabError
from layerlab.labs.base import LabConfig, LabResult, Note, option, register_lab
from layerlab.models.cubic import Cubic, cubic   # y = a + b·x + c·x² + d·x³, and the same as a module
from layerlab.viz.curves import plot_history, plot_lines


@dataclass(frozen=True)
class CubicSinConfig(LabConfig):
    method: str = option("manual", "how the gradients are found: by hand, by autograd, or by torch.optim.SGD through fit", choices=("manual", "autograd", "optim"))
    lr: float = option(1e-6, "the course's rate: the loss is a *sum* over 2,000 points, so it is tiny")
    iterations: int = option(2000, "gradient-descent steps over all the points")
    points: int = option(2000, "points of sin(x) on [-π, π]")


def squared_error(y_pred: Tensor, y: Tensor) -> Tensor:
    return (y_pred - y).pow(2).sum()            # 오차 = (예상y - y) 제곱의 합


def manual_gradients(x: Tensor, coeffs: Tensor, y: Tensor) -> Tensor:
    """d loss / d (a, b, c, d) by the chain rule: 2·(ŷ - y) times ∂ŷ/∂coefficient = 1, x, x², x³."""
    grad_y_pred = 2.0 * (cubic(x, coeffs) - y)
    return torch.stack([grad_y_pred.sum(), (grad_y_pred * x).sum(), (grad_y_pred * x**2).sum(), (grad_y_pred * x**3).sum()])


def least_squares_cubic(x: Tensor, y: Tensor) -> Tensor:
    """The best possible cubic, solved directly: what gradient descent should approach."""
    vandermonde = torch.stack([torch.ones_like(x), x, x**2, x**3], dim=1)   # (N, 4)
    return torch.linalg.lstsq(vandermonde, y.unsqueeze(1)).solution.flatten()


def descend(x: Tensor, y: Tensor, coeffs: Tensor, cfg: CubicSinConfig) -> tuple[Tensor, History]:
    """Gradient descent by hand (manual) or with autograd; loss recorded every 100 iterations."""
    coeffs = coeffs.clone().requires_grad_(cfg.method == "autograd")
    history = History()
    for t in range(1, cfg.iterations + 1):
        loss = squared_error(cubic(x, coeffs), y)
        if cfg.method == "manual":
            grad = manual_gradients(x, coeffs, y)
        else:
            loss.backward()
            grad = coeffs.grad
        with torch.no_grad():
            coeffs -= cfg.lr * grad                  # w <- w - learning rate · gradient
        if cfg.method == "autograd":
            coeffs.grad = None
        if t % 100 == 0 or t == 1:
            history.epochs.append({"iteration": t, "train_loss": loss.item()})
    return coeffs.detach(), history


@register_lab("cubic-sin", config=CubicSinConfig, title="Fit a cubic to sin(x) with hand-written gradients",
              unit="2주차 인공신경망 (ANN): the training pipeline",
              metric="max_coefficient_gap", higher_is_better=False)
def cubic_sin(cfg: CubicSinConfig, run: RunDir) -> LabResult:
    if cfg.method not in ("manual", "autograd", "optim"):
        raise LayerlabError(f"--method must be manual, autograd or optim; got {cfg.method!r}")
    # 1. Data: 2,000 points of sin(x) on [-π, π]
    data = get_dataset("sine", split="all", points=cfg.points)
    x, y = data.inputs.flatten(), data.targets.flatten()
    # 2. Model: four random coefficients
    initial = torch.randn(4, dtype=torch.float64)
    # 3. Train
    if cfg.method == "optim":
        model = Cubic(initial)
        history = fit(model, data, loss="sum_of_squares", optimizer="sgd", lr=cfg.lr, epochs=cfg.iterations,
                      batch_size=len(data), device="cpu", progress=False, seed=cfg.seed)
        final = model.coeffs.detach().flatten()
        # one full-batch epoch is one iteration: keep the rows the other methods log (1, 100, 200, ...)
        history.epochs = [{"iteration": r["epoch"], "train_loss": r["train_loss"]} for r in history.epochs
                          if r["epoch"] % 100 == 0 or r["epoch"] == 1]
    else:
        final, history = descend(x, y, initial, cfg)
    # 4. Report: compare with the least-squares answer
    best = least_squares_cubic(x, y)
    names = ("a", "b", "c", "d")
    metrics = {"loss": squared_error(cubic(x, final), y).item(), "max_coefficient_gap": (final - best).abs().max().item()}
    metrics |= {n: v for n, v in zip(names, final.tolist())} | {f"lstsq_{n}": v for n, v in zip(names, best.tolist())}
    # the y axis follows sin(x), not the random start (which can reach ±30 and flatten everything else)
    curves = {"sin(x)": y, "random initial cubic": cubic(x, initial), "fitted cubic": cubic(x, final)}
    margin = 0.25 * (y.max() - y.min()).item()
    ylim = (y.min().item() - margin, y.max().item() + margin)       # sin: -1.5 .. 1.5
    figures = [run.save_figure(plot_lines(x, curves, "sin(x) and the cubic", ylim=ylim), "fit"),
               run.save_figure(plot_history(history, "Sum of squared errors", x="iteration", log_loss=True), "loss")]
    fitted = " ".join(f"{v:+.4f}{p}" for v, p in zip(final.tolist(), ("", "·x", "·x²", "·x³")))
    gap = f"{metrics['max_coefficient_gap']:.4f}"
    notes = [Note(f"Result: y = {fitted}", f"결과: y = {fitted}"),
             Note(f"Largest gap to the least-squares cubic: {gap}", f"최소제곱 삼차 함수와의 가장 큰 계수 차이: {gap}")]
    # 5. Keep the four numbers as a model: `layerlab predict RUN_DIR points.csv` (a column x) evaluates it
    save_weights(Cubic(final), run.weights_path())
    judged = (f"fitted to all {cfg.points:,} points of sin(x) on [-π, π], none held out: its figures are loss and "
              "max_coefficient_gap (result.json)")
    card = ModelCard(model="cubic", input_shape=(1,), task="regression", loss="sum_of_squares", dataset="sine",
                     test_split="", feature_names=("x",), extra={"judged_by": judged})
    return LabResult(metrics=metrics, history=history, notes=notes, figures=figures, card=card,
                     trained={"iterations": cfg.iterations})
