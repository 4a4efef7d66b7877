"""Lab: MNIST MLP (784-64-10). Course unit: the artificial neural network (2주차, MNIST 손글씨 분류).

Goal: >= 0.97 test accuracy on MNIST in 5 epochs (>= 0.86 on Fashion-MNIST).
Shows: batch / iteration / epoch, argmax evaluation, softmax probabilities, per-layer parameter
counts (784·64 + 64 + 64·10 + 10 = 50,890).
Expected with the defaults: about 0.977 on MNIST and 0.88 on Fashion-MNIST.
"""

from __future__ import annotations

from dataclasses import dataclass

from layerlab.data import get_dataset, train_val_split
from layerlab.data.transforms import float_normalize
from layerlab.engine import RunDir, evaluate, fit
from layerlab.engine.card import ModelCard
from layerlab.inspect import summary
from layerlab.labs.base import LabConfig, LabResult, Note, option, register_lab
from layerlab.labs.reporting import accuracy_note
from layerlab.models import get_model
from layerlab.viz.reports import classification_figures


@dataclass(frozen=True)
class MnistMlpConfig(LabConfig):
    dataset: str = option("mnist", "mnist | fashion-mnist | digits (bundled, 8x8)")
    hidden: int = option(64, "the course's hidden layer")
    epochs: int = 5
    batch_size: int = 64
    lr: float = option(3e-3, "the peak rate of the one-cycle schedule")
    optimizer: str = option("adam", "optimizer name (layerlab list optimizers)")
    schedule: str = option("one-cycle", "warm up, then anneal: more accuracy from the same 5 epochs")
    val_fraction: float = option(0.1, "held out from the training split, for the validation curve")


@register_lab("mnist-mlp", config=MnistMlpConfig, title="MNIST with a 784-64-10 perceptron",
              unit="2주차 인공신경망 (ANN): MNIST 손글씨 분류",
              metric="test_accuracy", higher_is_better=True)
def mnist_mlp(cfg: MnistMlpConfig, run: RunDir) -> LabResult:
    # 1. Data: uint8 images stay compact; each batch becomes float and is normalised
    train = get_dataset(cfg.dataset, split="train", root=cfg.data_dir)
    test = get_dataset(cfg.dataset, split="test", root=cfg.data_dir)
    if cfg.quick:
        train, test = train.subset(slice(0, 2048)), test.subset(slice(0, 512))
    train, val = train_val_split(train, cfg.val_fraction, seed=cfg.seed)
    mean, std = train.meta.get("mean"), train.meta.get("std")
    transform = float_normalize(mean, std)
    # 2. Model: input pixels -> 64 hidden units -> 10 logits
    pixels = 1
    for size in train.inputs.shape[1:]:
        pixels *= size
    overrides = {"sizes": (pixels, cfg.hidden, train.num_classes)}
    model = get_model("mlp", **overrides)
    table = summary(model, tuple(train.inputs.shape[1:]))
    # 3. Train: batch -> iteration; one pass over the data -> epoch
    history = fit(model, train, val=val, loss="cross_entropy", optimizer=cfg.optimizer, lr=cfg.lr,
                  epochs=1 if cfg.quick else cfg.epochs, batch_size=cfg.batch_size, schedule=cfg.schedule,
                  device=cfg.device, seed=cfg.seed, transform=transform, eval_transform=transform,
                  run=run, progress=cfg.progress)
    # 4. Report: test accuracy by argmax, and the pictures
    metrics = evaluate(model, test, loss="cross_entropy", transform=transform, prefix="test_")
    figures, numbers = classification_figures(model, test, run, history=history, transform=transform)
    steps = -(-len(train) // cfg.batch_size)
    images, params = f"{len(train):,}", f"{table.total_params:,}"
    notes = [Note(f"{images} training images in batches of {cfg.batch_size}: {steps} iterations make one epoch.",
                  f"학습 이미지 {images}장을 배치 {cfg.batch_size}장씩: {steps}번 반복하면 한 에포크입니다."),
             Note(f"The model has {params} parameters (per layer in summary.txt).",
                  f"모델의 파라미터는 {params}개입니다 (층별 내역은 summary.txt)."),
             accuracy_note(metrics["test_accuracy"], len(test))]
    card = ModelCard(model="mlp", overrides=overrides, input_shape=tuple(train.inputs.shape[1:]),
                     classes=train.classes, mean=mean, std=std, dataset=cfg.dataset,
                     data_dir=cfg.data_dir or None, data_source=train.meta.get("source"))
    tables = {"Per-class test accuracy": [{"class": k, "accuracy": v} for k, v in numbers["per_class_accuracy"].items()],
              "Most confidently wrong": numbers["confidently_wrong"]}
    return LabResult(metrics=metrics, history=history, summary=table, card=card, notes=notes, tables=tables,
                     figures=figures)
