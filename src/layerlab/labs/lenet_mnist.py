"""Lab: LeNet-5 on MNIST / Fashion-MNIST. Course unit: CNN의 시작 — LeNet-5 (3주차).

Goal: >= 0.985 MNIST test accuracy by default (Fashion-MNIST: `--dataset fashion-mnist`, about 0.90).
Shows: a 28x28 digit padded to the paper's 32x32 (padding=2 on conv1: no extra weights), two
conv + pool stages (6 then 16 maps), three FC layers, 61,706 parameters counted by hand in
models/lenet.py; the learned 5x5 filters of conv1 and the feature maps of one digit per stage.
The paper's tanh + average pooling: `--activation tanh --pool avg`; ReLU + max pooling (the
default) trains faster.
Expected with the defaults (4 epochs, Adam one-cycle): MNIST test accuracy about 0.992.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from layerlab.data import get_dataset, train_val_split
from layerlab.data.transforms import float_normalize
from layerlab.engine import RunDir, evaluate, fit
from layerlab.engine.card import ModelCard
from layerlab.inspect import summary
from layerlab.labs.base import LabConfig, LabResult, Note, option, register_lab
from layerlab.labs.reporting import accuracy_note
from layerlab.models import get_model
from layerlab.viz.model import model_figures
from layerlab.viz.reports import classification_figures


@dataclass(frozen=True)
class LenetMnistConfig(LabConfig):
    dataset: str = option("mnist", "mnist | fashion-mnist")
    activation: str = option("relu", "hidden-layer activation (the paper: tanh)", choices=("tanh", "relu", "sigmoid"))
    pool: str = option("max", "pooling (the paper: avg, its subsampling)", choices=("max", "avg"))
    epochs: int = 4
    batch_size: int = 128
    lr: float = option(3e-3, "the peak rate of the one-cycle schedule")
    optimizer: str = option("adam", "optimizer name (layerlab list optimizers)")
    schedule: str = option("one-cycle", "learning-rate schedule (layerlab list schedules)")
    val_fraction: float = option(0.1, "held out from the training split, for the validation curve")


@register_lab("lenet-mnist", config=LenetMnistConfig, title="LeNet-5 on MNIST: the first convolutional network",
              unit="3주차 CNN: LeNet-5, 합성곱과 풀링",
              metric="test_accuracy", higher_is_better=True)
def lenet_mnist(cfg: LenetMnistConfig, run: RunDir) -> LabResult:
    # 1. Data: uint8 digits (N, 1, 28, 28); each batch becomes float and is normalised
    train = get_dataset(cfg.dataset, split="train", root=cfg.data_dir or None)
    test = get_dataset(cfg.dataset, split="test", root=cfg.data_dir or None)
    if cfg.quick:
        train, test = train.subset(slice(0, 2048)), test.subset(slice(0, 512))
    train, val = train_val_split(train, cfg.val_fraction, seed=cfg.seed)
    mean, std = train.meta.get("mean"), train.meta.get("std")
    transform = float_normalize(mean, std)
    # 2. Model: padding 2 turns 28x28 into the paper's 32x32 -> 6@28x28 -> 6@14x14 -> 16@10x10 -> 16@5x5
    channels, height, width = train.inputs.shape[1:]
    overrides = {"in_channels": channels, "num_classes": train.num_classes, "activation": cfg.activation,
                 "pool": cfg.pool, "padding": (32 - height) // 2}
    model = get_model("lenet5", **overrides)
    table = summary(model, (channels, height, width))
    # 3. Train: Adam with a one-cycle schedule; a checkpoint after every epoch
    history = fit(model, train, val=val, loss="cross_entropy", optimizer=cfg.optimizer, lr=cfg.lr,
                  epochs=1 if cfg.quick else cfg.epochs, batch_size=cfg.batch_size, schedule=cfg.schedule,
                  device=cfg.device, seed=cfg.seed, transform=transform, eval_transform=transform,
                  run=run, progress=cfg.progress)
    # 4. Report: accuracy by argmax, mistakes, and what the convolutions learned
    metrics = evaluate(model, test, loss="cross_entropy", transform=transform, prefix="test_")
    figures, numbers = classification_figures(model, test, run, history=history, transform=transform)
    image, _ = transform(test.inputs[:1], test.targets[:1], torch.Generator())  # one test image, as the model sees it
    if run.writes:   # rank 0 of a torchrun run draws them
        figures += model_figures(model, image[0], run.path / "figures", display=test.inputs[0], classes=test.classes,
                                 lang=cfg.lang)
    conv1 = sum(p.numel() for p in model.features[0].parameters())  # 6·(1·5·5) + 6 = 156
    pad, params = overrides["padding"], f"{table.total_params:,}"
    notes = [Note(f"Padding {pad} on conv1 makes a {height}x{width} image act like 32x32; "
                  f"the model still has {params} parameters (per layer in summary.txt).",
                  f"conv1의 패딩 {pad}로 {height}x{width} 이미지가 32x32처럼 동작합니다; "
                  f"모델의 파라미터는 그대로 {params}개입니다 (층별 내역은 summary.txt)."),
             Note(f"conv1 holds {conv1:,} numbers: 6 filters of 5x5 (+ biases), shared across the whole image.",
                  f"conv1의 숫자는 {conv1:,}개: 6개의 5x5 필터(+ 편향)를 이미지 전체에서 공유합니다."),
             accuracy_note(metrics["test_accuracy"], len(test))]
    card = ModelCard(model="lenet5", overrides=overrides, input_shape=(channels, height, width),
                     classes=train.classes, mean=mean, std=std, dataset=cfg.dataset,
                     data_dir=cfg.data_dir or None, data_source=train.meta.get("source"))
    tables = {"Per-class test accuracy": [{"class": k, "accuracy": v} for k, v in numbers["per_class_accuracy"].items()],
              "Most confidently wrong": numbers["confidently_wrong"]}
    return LabResult(metrics=metrics, history=history, summary=table, card=card, notes=notes, tables=tables,
                     figures=figures)
