"""Lab: vanishing gradients through the layers of a deep MLP, sigmoid vs tanh vs ReLU. Course units:
ResNet (4주차: "Sigmoid 함수가 대부분 0에 가깝고 높은 값도 0.25정도고 층을 더 할 수록 줄어듦") and
RNN (5주차: 기울기 소실, 역전파 때 그래디언트가 반복적으로 곱해지며 작아지는 현상).

Goal: see the 0.25 at work. Backpropagation multiplies the gradient by σ'(z) ⊙ Wᵀ once per layer,
and the sigmoid's derivative σ(z)(1 - σ(z)) is at most 0.25. The same 15-layer MLP on MNIST
(784 → 14 hidden layers of 128 → 10) is built three times, with sigmoid, tanh and ReLU, each with its
own gain in the initial weights (N(0, gain²/fan_in); gain 1, 5/3 and √2, torch's `calculate_gain`),
so that only the activation differs. For each we measure the gradient that reaches every layer,
‖dLoss/dz‖ at its output for one image (averaged over the same 512 training images; the layer's
weights move by that times its input), at initialisation and after training the three nets with
one recipe: SGD, lr 0.05, momentum 0.9, batches of 128, 3 epochs. The figures draw the per-layer
norms on a log scale, with the line that shrinks by 0.25 per layer from the sigmoid net's output
layer (the most σ' alone lets through), and the training curves side by side.

Expected: the sigmoid net's gradient shrinks by about 0.23 per layer, under the 0.25 line, so its
first layer gets ~1e-9 of its output layer's gradient; it stays at chance (about 0.10 test accuracy)
for all 3 epochs. tanh and ReLU keep their first layers' gradients within a factor of about 3 of
the output layer's, before and after training, and reach about 0.95. `--init torch` uses
nn.Linear's default weights (U(±1/√fan_in), a third of the variance ReLU needs) for all three:
then even ReLU's gradient shrinks at initialisation (by about 0.4 per layer, sigmoid's by 0.14).
Random draws (weights, the measured images, the batch order) come from generators seeded with
`--seed`; torch's global random state is never used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from layerlab.data import get_dataset
from layerlab.data.transforms import float_normalize
from layerlab.engine import History, RunDir, fit
from layerlab.engine.card import ModelCard
from layerlab.errors import LayerlabError
from layerlab.inspect import summary
from layerlab.inspect.gradients import layer_gradient_norms
from layerlab.labs.base import LabConfig, LabResult, Note, option, register_lab
from layerlab.models.mlp import INITS, seeded_mlp
from layerlab.viz.compare import plot_runs
from layerlab.viz.depth import plot_layer_gradients

ACTIVATIONS = ("sigmoid", "tanh", "relu")


@dataclass(frozen=True)
class VanishingGradientsConfig(LabConfig):
    dataset: str = option("mnist", "the image dataset (layerlab data list)")
    layers: int = option(15, "Linear layers: layers - 1 hidden ones of `width` units, then the output")
    width: int = option(128, "hidden units of every hidden layer")
    activations: tuple[str, ...] = option(ACTIVATIONS, "the activations compared, each in its own net")
    init: str = option("gain", "'gain': N(0, gain²/fan_in) per activation; 'torch': nn.Linear's default", choices=("gain", "torch"))
    epochs: int = 3
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = option(0.9, "SGD momentum")
    probe_size: int = option(512, "training images whose per-layer gradient is measured")


def shrink_per_layer(norms: list[float]) -> float:
    """The geometric mean factor from the output layer's gradient norm down to the first layer's."""
    return (norms[0] / norms[-1]) ** (1 / (len(norms) - 1))


@register_lab("vanishing-gradients", config=VanishingGradientsConfig,
              title="Vanishing gradients through 15 layers: sigmoid vs tanh vs ReLU",
              unit="4주차 ResNet / 5주차 RNN: 기울기 소실 (sigmoid 미분의 최댓값 0.25)",
              metric="test_accuracy", higher_is_better=True)
def vanishing_gradients(cfg: VanishingGradientsConfig, run: RunDir) -> LabResult:
    unknown = [a for a in cfg.activations if a not in ACTIVATIONS]
    if unknown or not cfg.activations or cfg.init not in INITS or cfg.layers < 3:
        raise LayerlabError(f"--activations takes some of {','.join(ACTIVATIONS)}, --init gain or torch and --layers "
                            f">= 3; got {','.join(cfg.activations)}, {cfg.init}, {cfg.layers}")
    # 1. Data: MNIST normalised with the training images' mean and std; a fixed batch to measure on
    train = get_dataset(cfg.dataset, split="train", root=cfg.data_dir or None)
    test = get_dataset(cfg.dataset, split="test", root=cfg.data_dir or None)
    if cfg.quick:
        train, test = train.subset(slice(0, 2048)), test.subset(slice(0, 512))
    transform = float_normalize(train.meta.get("mean"), train.meta.get("std"))
    probe = torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.seed))[: 64 if cfg.quick else cfg.probe_size]
    probe_x, probe_y = transform(train.inputs[probe], train.targets[probe], torch.Generator())   # (P, 1, 28, 28), (P,)
    pixels = math.prod(train.inputs.shape[1:])
    sizes = (pixels, *[cfg.width] * (cfg.layers - 1), train.num_classes)   # 784, 128 x 14, 10
    # 2. + 3. One net per activation: gradients at initialisation, training, gradients again
    norms: dict[str, dict[str, list[float]]] = {"init": {}, "trained": {}}
    histories: dict[str, History] = {}
    loss = nn.CrossEntropyLoss()
    for activation in cfg.activations:
        model = seeded_mlp(sizes, activation, init=cfg.init, seed=cfg.seed)
        norms["init"][activation] = [n for _, n in layer_gradient_norms(model, loss, probe_x, probe_y)]
        main = activation == cfg.activations[-1]   # the last net is the run's main model
        history = fit(model, train, val=test, val_name="test", loss=loss, optimizer="sgd", lr=cfg.lr,
                      momentum=cfg.momentum, epochs=1 if cfg.quick else cfg.epochs, batch_size=cfg.batch_size,
                      device=cfg.device, seed=cfg.seed, transform=transform, eval_transform=transform, run=run,
                      stage="main" if main else activation, progress=cfg.progress)
        model.cpu()
        norms["trained"][activation] = [n for _, n in layer_gradient_norms(model, loss, probe_x, probe_y)]
        histories[activation] = history
    # 4. Report: per-layer norms, the shrink factor per layer, accuracies, the two figures
    steps = -(-len(train) // cfg.batch_size) * len(history)
    metrics = _metrics(cfg.activations, norms, histories)
    title = f"{cfg.layers}-layer MLP on {cfg.dataset}: the gradient reaching each layer, mean of {len(probe)} training images"
    panels = {"at initialisation": norms["init"], f"after {steps:,} SGD steps": norms["trained"]}
    figures = [run.save_figure(plot_layer_gradients(panels, factor=0.25, title=title, lang=cfg.lang), "gradients_per_layer"),
               run.save_figure(plot_runs({a: h.epochs for a, h in histories.items()}, keys=("train_loss", "test_accuracy"),
                                         title=f"Same recipe, {len(history)} epochs: training curves"), "curves")]
    rows = [{"layer": k + 1, **{f"{a} {m}": norms[m][a][k] for a in cfg.activations for m in ("init", "trained")}}
            for k in range(cfg.layers)]
    card = ModelCard(model="mlp", overrides={"sizes": sizes, "activation": cfg.activations[-1]},
                     input_shape=tuple(train.inputs.shape[1:]), classes=train.classes, mean=train.meta.get("mean"),
                     std=train.meta.get("std"), dataset=cfg.dataset, data_dir=cfg.data_dir or None,
                     data_source=train.meta.get("source"))
    notes = _notes(cfg.activations, metrics)
    others = {f"{a}: training history": histories[a].epochs for a in cfg.activations[:-1]}
    return LabResult(metrics=metrics, history=history, summary=summary(model, tuple(train.inputs.shape[1:])), card=card,
                     notes=notes, tables={"Gradient norm per layer (1 = next to the input)": rows, **others},
                     figures=figures)


def _metrics(activations: tuple[str, ...], norms: dict[str, dict[str, list[float]]],
             histories: dict[str, History]) -> dict[str, float]:
    """Each net's test accuracy and, at initialisation and after training, how fast its gradient shrinks."""
    metrics: dict[str, float] = {}
    for activation in activations:
        metrics[f"{activation}_test_accuracy"] = histories[activation].last["test_accuracy"]
        for moment in ("init", "trained"):
            values = norms[moment][activation]
            metrics[f"{activation}_shrink_per_layer_{moment}"] = shrink_per_layer(values)
            # log10 (layer 1's / the output layer's): -9 is a billionth; result.json rounds to 6 decimals
            metrics[f"{activation}_log10_first_over_last_{moment}"] = math.log10(values[0] / values[-1])
    metrics["test_accuracy"] = metrics[f"{activations[-1]}_test_accuracy"]
    return metrics


def _notes(activations: tuple[str, ...], metrics: dict[str, float]) -> list[Note]:
    notes = []
    for a in activations:
        init, reach = f"{metrics[f'{a}_shrink_per_layer_init']:.3f}", f"1e{metrics[f'{a}_log10_first_over_last_init']:.1f}"
        trained, accuracy = f"{metrics[f'{a}_shrink_per_layer_trained']:.3f}", f"{metrics[f'{a}_test_accuracy']:.4f}"
        notes.append(Note(f"{a}: the gradient shrinks by {init} per layer at initialisation (layer 1 gets {reach} of the "
                          f"output layer's), {trained} after training; test accuracy {accuracy}.",
                          f"{a}: 초기화 직후 기울기가 층마다 {init}배로 줄고 (1층에는 출력층 기울기의 {reach}만 도달), "
                          f"학습 후에는 {trained}배; 테스트 정확도 {accuracy}."))
    return notes + [Note("σ'(z) = σ(z)(1 - σ(z)) ≤ 0.25, so each sigmoid layer passes back at most a quarter of the gradient "
                         "(times its weights): the dotted line in figures/gradients_per_layer.png.",
                         "σ'(z) = σ(z)(1 - σ(z)) ≤ 0.25이므로 sigmoid 층 하나는 기울기를 최대 사분의 일만 (여기에 "
                         "가중치가 곱해져) 뒤로 전달합니다: figures/gradients_per_layer.png의 점선."),
                    Note(f"The training history at the end of this report is the {activations[-1]} net's (the run's main model).",
                         f"이 보고서 끝의 학습 기록은 {activations[-1]} 신경망 (이 실행의 주 모델)의 것입니다.")]
