"""Lab: ResNet-18 on CIFAR-10, with and without skip connections. Course unit: ResNet (4주차).

Goal: see what the skip connection buys. A residual block outputs ReLU(F(x) + x): the `+ x` is
the skip connection (`BasicBlock.forward` in models/resnet.py), and where a stage halves the image
and doubles the channels, x first passes a 1x1 conv with stride 2 + BN (`layer2.0.downsample`,
`layer3.0.downsample`, `layer4.0.downsample`) so the shapes match. `--no-skip` trains the same
net without any of them (the paper's "plain" net); `--compare` trains both with the same seed and
budget and draws their curves in one figure (figures/skip_vs_plain.png).

Default: the same 18-layer net at width 16 (701,466 parameters, 35M multiply-accumulates per
image), 15 epochs of 45,000 images; the paper's width, `--width 64` (11,173,962 parameters), costs
16x the multiply-accumulates per image (555M), a GPU's budget rather than a CPU's.
Expected (defaults, seed 0): test accuracy about 0.85. `--compare --epochs 5 --train-size 20000`:
about 0.69 with skips vs 0.65 without. On a GPU: `--device cuda --width 64 --epochs 30 --val-fraction
0.02 --tta --compile` scored 0.9095 after 146 s of training on one H200 (README, Benchmarks, "On a GPU";
the shared CIFAR-10 copy is JPEG, on which airbench's 94% trainer scores 0.906).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from layerlab.data import get_dataset, train_val_split
from layerlab.data.transforms import augment_pipeline, eval_pipeline
from layerlab.engine import RunDir, evaluate, fit
from layerlab.engine.card import ModelCard
from layerlab.engine.loop import evaluate_and_predict
from layerlab.errors import LayerlabError
from layerlab.inspect import summary
from layerlab.labs.base import LabConfig, LabResult, Note, option, register_lab
from layerlab.labs.reporting import accuracy_note
from layerlab.models import get_model
from layerlab.models.layers import FlipAverage
from layerlab.viz.compare import plot_runs
from layerlab.viz.model import model_figures
from layerlab.viz.reports import classification_figures

DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}  # blocks per stage


@dataclass(frozen=True)
class ResnetCifarConfig(LabConfig):
    dataset: str = option("cifar10", "cifar10, or another registered image dataset (layerlab data list)")
    width: int = option(16, "channels of layer1 (x2 per stage); 64 = the paper's ResNet-18")
    depth: int = option(18, "18 or 34: the paper's gap between plain and residual grows with depth")
    skip: bool = option(True, "--no-skip: blocks output ReLU(F(x)), no shortcuts at all")
    compare: bool = option(False, "train with and without skips, same seed and budget, one figure")
    train_size: int = option(0, "use only this many training images (0: all 45,000)")
    epochs: int = 15
    batch_size: int = 128
    lr: float = option(0.1, "the peak rate of the one-cycle schedule")
    weight_decay: float = option(5e-4, "L2 penalty on the weights")
    label_smoothing: float = option(0.1, "share of each target spread over the other classes")
    val_fraction: float = option(0.1, "share of the training images held out for the validation curve")
    amp: bool = option(True, "bf16 autocast: ~2x faster convs on CPUs with AVX-512 BF16")
    channels_last: bool = option(True, "NHWC convolutions train faster on a CPU: benchmarks/cnn_throughput.py")
    compile: bool = option(False, "torch.compile the training forward (GPU: fewer, fused kernels; the first steps compile)")
    tta: bool = option(False, "score each test image and its mirror, probabilities averaged (test-time flip)")


@register_lab("resnet-cifar", config=ResnetCifarConfig, title="ResNet-18 on CIFAR-10: the skip connection",
              unit="4주차 ResNet: 잔차 연결 (skip connection) 과 degradation 문제",
              metric="test_accuracy", higher_is_better=True)
def resnet_cifar(cfg: ResnetCifarConfig, run: RunDir) -> LabResult:
    if cfg.depth not in DEPTHS:
        raise LayerlabError(f"--depth must be one of {sorted(DEPTHS)}, got {cfg.depth}")
    # 1. Data: uint8 CIFAR images; crop + flip + normalise per batch with the training split's statistics
    train = get_dataset(cfg.dataset, split="train", root=cfg.data_dir or None)
    test = get_dataset(cfg.dataset, split="test", root=cfg.data_dir or None)
    mean, std = train.meta["mean"], train.meta["std"]
    if cfg.quick:
        train, test = train.subset(slice(0, None, max(1, len(train) // 1000))), test.subset(slice(0, None, max(1, len(test) // 250)))
    train, val = train_val_split(train, cfg.val_fraction, seed=cfg.seed)
    if cfg.train_size:
        train = train.subset(slice(0, cfg.train_size))
    augment = augment_pipeline(mean, std, channels_last=cfg.channels_last)
    to_eval = eval_pipeline(mean, std, channels_last=cfg.channels_last)
    # 2. + 3. Model and training: the residual net, the plain net, or both with the same budget
    variants = [True, False] if cfg.compare else [cfg.skip]
    # the first variant is the run's main model (model.safetensors); the plain one in a --compare run is "plain"
    trained = {skip: _train(cfg, skip, train, val, augment, to_eval, run, "main" if i == 0 else "plain")
               for i, skip in enumerate(variants)}
    model, overrides, history = trained[variants[0]]
    # 4. Report: test accuracy, where the shortcuts are, the usual figures and the comparison
    tested = FlipAverage(model) if cfg.tta else model   # --tta: the image and its mirror, probabilities averaged
    metrics, outputs = evaluate_and_predict(tested, test, transform=to_eval, amp=cfg.amp, prefix="test_")
    if cfg.tta:
        metrics["test_accuracy_one_view"] = evaluate(model, test, transform=to_eval, amp=cfg.amp)["accuracy"]
    metrics["train_seconds"] = round(sum(history.series("seconds")), 3)   # the training passes of the main model
    figures, numbers = classification_figures(tested, test, run, history=history, transform=to_eval, amp=cfg.amp,
                                              outputs=outputs)
    image = to_eval(test.inputs[:1], test.targets[:1], torch.Generator())[0][0]  # (C, H, W), normalised
    figures += model_figures(model, image, run.figures, display=test.inputs[0], classes=test.classes, lang=cfg.lang)
    table = summary(model, tuple(train.inputs.shape[1:]))
    notes = _notes(model, params=table.total_params, skip=variants[0], n_train=len(train),
                   accuracy=metrics["test_accuracy"], n_test=len(test))
    tables: dict[str, list[dict[str, Any]]] = {}
    if cfg.compare:
        plain_model, _, plain_history = trained[False]
        plain_metrics = evaluate(plain_model, test, loss="cross_entropy", transform=to_eval, amp=cfg.amp, prefix="")
        metrics["plain_test_accuracy"] = plain_metrics["accuracy"]
        figures.append(run.save_figure(plot_runs(
            {"with skip (ResNet)": history.epochs, "without skip (plain)": plain_history.epochs},
            title=f"{cfg.depth} layers, width {overrides['width']}: with vs without skip connections"), "skip_vs_plain"))
        with_skip, without = f"{metrics['test_accuracy']:.4f}", f"{plain_metrics['accuracy']:.4f}"
        notes.append(Note(f"Same seed, data and {len(history)} epochs: test accuracy {with_skip} with "
                          f"skip connections, {without} without (figures/skip_vs_plain.png).",
                          f"같은 시드, 같은 데이터, 같은 {len(history)} 에포크: 테스트 정확도가 스킵 연결이 있으면 "
                          f"{with_skip}, 없으면 {without}입니다 (figures/skip_vs_plain.png)."))
        tables["Plain net (no skip): training history"] = plain_history.epochs
    card = ModelCard(model="resnet18-cifar", overrides=overrides, input_shape=tuple(train.inputs.shape[1:]),
                     classes=train.classes, mean=mean, std=std, dataset=cfg.dataset,
                     data_dir=cfg.data_dir or None, data_source=train.meta.get("source"))
    tables["Per-class test accuracy"] = [{"class": k, "accuracy": v} for k, v in numbers["per_class_accuracy"].items()]
    return LabResult(metrics=metrics, history=history, summary=table, card=card, notes=notes, tables=tables,
                     figures=figures)


def _train(cfg: ResnetCifarConfig, skip: bool, train: Any, val: Any, augment: Any, to_eval: Any,
           run: RunDir, stage: str) -> tuple[nn.Module, dict[str, Any], Any]:
    """Build the net (with or without skips) and fit it as `stage` of the run."""
    overrides = {"width": cfg.width, "layers": DEPTHS[cfg.depth], "skip": skip, "num_classes": train.num_classes}
    if cfg.quick:
        overrides["width"] = min(cfg.width, 8)
    model = get_model("resnet18-cifar", **overrides)
    history = fit(model, train, val=val, loss=nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing),
                  optimizer="sgd", lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay,
                  epochs=1 if cfg.quick else cfg.epochs, batch_size=cfg.batch_size, schedule="one-cycle",
                  amp=cfg.amp, channels_last=cfg.channels_last, compile=cfg.compile, device=cfg.device, seed=cfg.seed,
                  transform=augment, eval_transform=to_eval, run=run, stage=stage,
                  progress=cfg.progress)
    return model, overrides, history


def _notes(model: nn.Module, *, params: int, skip: bool, n_train: int, accuracy: float, n_test: int) -> list[Note]:
    """Where the skip connections and the 1x1 downsample convs are in this model."""
    shortcuts = ", ".join(f"`{name}` ({m.in_channels}→{m.out_channels}, 1x1, stride {m.stride[0]})"
                          for name, m in model.named_modules() if name.endswith("downsample.0"))
    if skip:
        where = Note("Skip connections: every block adds its input to F(x) before the last ReLU (`out + identity` "
                     f"in BasicBlock.forward); the 1x1 downsample shortcuts are {shortcuts}.",
                     "스킵 연결: 모든 블록이 마지막 ReLU 앞에서 입력을 F(x)에 더합니다 (BasicBlock.forward의 "
                     f"`out + identity`); 1x1 다운샘플 지름길은 {shortcuts}입니다.")
    else:
        where = Note("No skip connections (--no-skip): every block outputs ReLU(F(x)) and no downsample conv exists.",
                     "스킵 연결 없음 (--no-skip): 모든 블록의 출력은 ReLU(F(x))이고, 다운샘플 합성곱도 없습니다.")
    count, images = f"{params:,}", f"{n_train:,}"
    return [where, Note(f"The model has {count} parameters; trained on {images} images.",
                        f"모델의 파라미터는 {count}개이고, 이미지 {images}장으로 학습했습니다."),
            accuracy_note(accuracy, n_test)]
