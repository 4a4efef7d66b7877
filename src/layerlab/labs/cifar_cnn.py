"""Lab: the course's CIFAR-10 block net. Course unit: CNN 실습 CIFAR-10 (3주차).

The course's recipe: augment the images -> normalise by the RGB mean and std -> basic blocks
(Conv2d → ReLU → Conv2d → ReLU → MaxPool) x3 -> Flatten -> FC1 → ReLU → FC2 → ReLU → FC3 -> accuracy.
Goal: >= 0.85 CIFAR-10 test accuracy in the default 15 epochs (0.90 with a longer run).
Default: the course's block widths (3→16→32, 32→64→128, 128→128→256) with BatchNorm after each
conv and a smaller head (4096 → 512 → 256 → 10 instead of 4096 → 2048 → 256 → 10); one-cycle SGD
(nesterov, weight decay 5e-4), label smoothing 0.1, bf16 autocast, channels_last (which precision
and layout train fastest on a CPU: benchmarks/cnn_throughput.py).
`--pool-first` moves each block's pool between its convs (Conv → MaxPool → BN → ReLU → Conv → BN →
ReLU, the block of the fast CIFAR-10 trainers such as airbench): the second conv reads a map a
quarter the size, so `--widths 64,128,256 --block-hidden 64,128,256` costs about what the default
does. `--tta` scores each test image together with its mirror image (test-time flip).
The report states the seconds per epoch and the machine's matmul speed before and after training.
The course's exact net (no BN, 9,457,962 parameters): `--course-net --optimizer adam --lr 1e-3`.
Expected with the defaults: test accuracy about 0.865 (the README's lab table has the measured run).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from layerlab.data import get_dataset, train_val_split
from layerlab.data.transforms import augment_pipeline, channel_stats, eval_pipeline
from layerlab.engine import RunDir, evaluate, fit
from layerlab.engine.card import ModelCard
from layerlab.engine.speed import matmul_gflops
from layerlab.errors import LayerlabError
from layerlab.inspect import Summary, summary
from layerlab.labs.base import LabConfig, LabResult, Note, option, register_lab
from layerlab.labs.reporting import accuracy_note
from layerlab.models import get_model
from layerlab.models.layers import FlipAverage
from layerlab.viz.model import model_figures
from layerlab.viz.reports import classification_figures


@dataclass(frozen=True)
class CifarCnnConfig(LabConfig):
    dataset: str = option("cifar10", "cifar10, image-folder (your own DIR/train/<class>/, see classify-images), "
                                     "or another registered image dataset (layerlab data list)")
    size: int = option(0, "image-folder: resize every image to SIZE x SIZE (0: keep; they must then match)")
    course_net: bool = option(False, "the course's exact net: no BN, FC 2048 → 256")
    widths: tuple[int, ...] = option((32, 128, 256), "each block's output channels (the course's)")
    block_hidden: tuple[int, ...] = option((16, 64, 128), "each block's first conv (the course's)")
    pool_first: bool = option(False, "pool right after each block's first conv, so the second costs a quarter "
                                     "(the fast CIFAR trainers' block; the course pools after both)")
    hidden: tuple[int, ...] = option((512, 256), "FC sizes between Flatten and the logits")
    batch_norm: bool = option(True, "batch normalisation after each conv")
    epochs: int = 15
    batch_size: int = option(256, "large batches keep 2 CPU cores busy")
    lr: float = option(0.1, "peak learning rate of the one-cycle schedule")
    optimizer: str = option("sgd", "optimizer name (layerlab list optimizers)")
    momentum: float = option(0.9, "SGD momentum")
    weight_decay: float = option(5e-4, "L2 penalty on the weights")
    label_smoothing: float = option(0.1, "share of each target spread over the other classes")
    crop_padding: int = option(4, "random crop after padding 4 pixels; 0 = no crop")
    flip: bool = option(True, "random horizontal flip")
    amp: bool = option(True, "bf16 autocast: ~2.3x on a CPU with AVX-512 BF16")
    channels_last: bool = option(True, "NHWC memory layout: faster convolutions on a CPU")
    val_fraction: float = option(0.02, "1,000 training images for the validation curve")
    tta: bool = option(False, "test-time flip: average the predictions for each test image and its mirror")


def model_overrides(cfg: CifarCnnConfig, num_classes: int, image_size: int = 32) -> dict[str, object]:
    sized = {"image_size": image_size} if image_size != 32 else {}
    if cfg.course_net:  # the registered default: exactly the course's net
        return {"num_classes": num_classes, **sized}
    return {"num_classes": num_classes, "widths": cfg.widths, "block_hidden": cfg.block_hidden,
            "hidden": cfg.hidden, "batch_norm": cfg.batch_norm, "pool_first": cfg.pool_first, **sized}


@register_lab("cifar-cnn", config=CifarCnnConfig, title="CIFAR-10 with the course's block net",
              unit="3주차 CNN 실습: CIFAR-10 (증강, 정규화, 기본 블록)",
              metric="test_accuracy", higher_is_better=True)
def cifar_cnn(cfg: CifarCnnConfig, run: RunDir) -> LabResult:
    # 1. Data: uint8 images (N, 3, 32, 32); mean and std per channel from the training images only
    if cfg.size and cfg.dataset != "image-folder":
        raise LayerlabError(f"--size resizes your own images (--dataset image-folder); {cfg.dataset} is read at its own size")
    sized = ({"size": cfg.size} if cfg.size else {}) | ({"channels": 3} if cfg.dataset == "image-folder" else {})
    train = get_dataset(cfg.dataset, split="train", root=cfg.data_dir or None, **sized)
    test = get_dataset(cfg.dataset, split="test", root=cfg.data_dir or None, **sized)
    height, width = train.inputs.shape[-2:]
    if height != width or height % 8:
        raise LayerlabError(f"cifar-cnn needs square images whose side is a multiple of 8 (three 2x2 poolings); "
                            f"these are {height}x{width}: pass --size 32 (or 64, ...)")
    if cfg.quick:  # every n-th image: image folders are read class by class
        train, test = train.subset(slice(0, None, max(1, len(train) // 1024))), test.subset(slice(0, None, max(1, len(test) // 256)))
    train, val = train_val_split(train, cfg.val_fraction, seed=cfg.seed)
    mean, std = channel_stats(train)
    print("training-split mean " + ", ".join(f"{m:.4f}" for m in mean) + "  std " + ", ".join(f"{s:.4f}" for s in std))
    augment = augment_pipeline(mean, std, crop_padding=cfg.crop_padding, flip=cfg.flip, channels_last=cfg.channels_last)
    plain = eval_pipeline(mean, std, channels_last=cfg.channels_last)
    # 2. Model: three basic blocks halve 32 → 16 → 8 → 4, then the FC head
    overrides = model_overrides(cfg, train.num_classes, int(height))
    model = get_model("cifar-cnn", **overrides)
    table = summary(model, tuple(train.inputs.shape[1:]))
    # 3. Train: one-cycle SGD with label smoothing, bf16 autocast, channels_last
    speed = matmul_gflops()  # the machine's matmul speed now and at the end: a slow phase shows in the report
    history = fit(model, train, val=val, loss=nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing),
                  optimizer=cfg.optimizer, lr=cfg.lr, momentum=cfg.momentum if cfg.optimizer in ("sgd", "rmsprop") else 0.0,
                  nesterov=cfg.optimizer == "sgd" and cfg.momentum > 0, weight_decay=cfg.weight_decay,
                  epochs=1 if cfg.quick else cfg.epochs, batch_size=min(cfg.batch_size, 64) if cfg.quick else cfg.batch_size, schedule="one-cycle",
                  amp=cfg.amp, channels_last=cfg.channels_last, device=cfg.device, seed=cfg.seed,
                  transform=augment, eval_transform=plain, run=run, progress=cfg.progress)
    # 4. Report: test accuracy, mistakes, and what the convolutions learned
    tested = FlipAverage(model) if cfg.tta else model  # each test image and its mirror, probabilities averaged
    metrics = evaluate(tested, test, loss="cross_entropy", transform=plain, amp=cfg.amp, prefix="test_")
    if cfg.tta:
        metrics["test_accuracy_one_view"] = evaluate(model, test, transform=plain, amp=cfg.amp)["accuracy"]
    figures, numbers = classification_figures(tested, test, run, history=history, transform=plain, amp=cfg.amp)
    image, _ = plain(test.inputs[:1], test.targets[:1], torch.Generator())  # one test image, as the model sees it
    if run.writes:   # rank 0 of a torchrun run draws them
        figures += model_figures(model, image[0], run.path / "figures", display=test.inputs[0], classes=test.classes,
                                 lang=cfg.lang)
    metrics |= {"seconds_per_epoch": statistics.median(history.series("seconds") or [0.0]), "matmul_gflops_start": speed,
                "matmul_gflops_end": matmul_gflops()}
    notes = _notes(mean, std, table, metrics, len(test))
    card = ModelCard(model="cifar-cnn", overrides=overrides, input_shape=tuple(train.inputs.shape[1:]),
                     classes=train.classes, mean=mean, std=std, dataset=cfg.dataset,
                     data_dir=cfg.data_dir or None, data_source=train.meta.get("source"))
    tables = {"Per-class test accuracy": [{"class": k, "accuracy": v} for k, v in numbers["per_class_accuracy"].items()],
              "Most confidently wrong": numbers["confidently_wrong"]}
    own = cfg.dataset == "image-folder"
    title = f"The course's block net on your images: {Path(str(train.meta.get('source', 'image-folder'))).name}" if own else ""
    return LabResult(metrics={**metrics, "mean_r": mean[0], "mean_g": mean[1], "mean_b": mean[2]}, history=history,
                     summary=table, card=card, notes=notes, tables=tables, figures=figures, title=title)


def _notes(mean: Sequence[float], std: Sequence[float], table: Summary, metrics: dict[str, float], count: int) -> list[Note]:
    means, stds = ", ".join(f"{m:.4f}" for m in mean), ", ".join(f"{s:.4f}" for s in std)
    params, macs = f"{table.total_params:,}", f"{table.total_macs / 1e6:.1f}M"
    per_epoch, start, end = (f"{metrics[k]:.1f}" for k in ("seconds_per_epoch", "matmul_gflops_start", "matmul_gflops_end"))
    return [Note(f"Normalised with the training split's mean ({means}) and std ({stds}); the test images use the "
                 "same numbers.",
                 f"학습 데이터의 평균 ({means})과 표준편차 ({stds})로 정규화했습니다; 테스트 이미지도 같은 숫자를 씁니다."),
            Note(f"{params} parameters and {macs} multiply-accumulates per image (per layer in summary.txt).",
                 f"파라미터 {params}개, 이미지 한 장당 곱셈-누산 {macs}번 (층별 내역은 summary.txt)."),
            Note(f"Training took a median {per_epoch} s per epoch; this machine multiplied 1024x1024 float32 matrices at "
                 f"{start} GFLOP/s before training and {end} GFLOP/s at the end (a lower figure means other work "
                 "was slowing it down).",
                 f"학습은 epoch당 중앙값 {per_epoch}초 걸렸습니다; 이 컴퓨터의 1024x1024 float32 행렬 곱 속도는 학습 전 "
                 f"{start} GFLOP/s, 끝날 때 {end} GFLOP/s였습니다 (낮을수록 다른 작업이 느리게 만든 것입니다)."),
            accuracy_note(metrics["test_accuracy"], count)]
