"""Lab: transfer learning with a VGG. Course unit: 실습 전이학습모델 VGG로 분류하기 (3주차).

Goal: reuse what a trained net knows. Load pretrained weights, freeze the feature extractor,
replace the classifier head (with dropout) for the new classes, fine-tune; `--unfreeze-last`
also lets the last conv block adapt. The three moves are models/transfer.py.

    --weights imagenet   torchvision's published VGG16 (via torch.hub; --model picks another)
    --weights FILE       your own .safetensors/.pt state_dict for --model (cifar-vgg: the net below)
    (no --weights)       the offline demonstration: pretrain a small VGG-style net ("cifar-vgg":
                         3 BN basic blocks 32-64-128, FC 256, dropout) on the 8 other CIFAR-10
                         classes, then transfer it to cat vs dog with 100 training images each.

Why cat vs dog: they are the two CIFAR-10 classes a net confuses most, so 200 images are far too
few to learn them from scratch, while the 8 source classes hold four other animals whose
features (fur, eyes, legs) carry over. Both nets get the same seed, data and fine-tuning budget;
accuracy is measured on all 2,000 cat and dog test images.
Your own images: `--dataset image-folder --data-dir DIR` (DIR/train/<class>/, optional val/ and
test/; see the classify-images lab) makes the folder's classes the new task, at `--size` (default:
the model's input size, 32 for cifar-vgg). Without --weights, cifar-vgg is then pretrained on all
ten CIFAR-10 classes (found in the usual places, or `--source-dir`) before it transfers.

Expected (defaults, seed 0): pretraining reaches about 0.86 on the 8 source classes; cat vs dog
test accuracy: transfer about 0.64 vs about 0.59 from scratch (features frozen, the default), and
about 0.68 with `--unfreeze-last`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from layerlab.data import get_dataset
from layerlab.data.images import find_images, folder_splits
from layerlab.data.tensors import TensorData, select_classes
from layerlab.data.transforms import augment_pipeline, channel_stats, eval_pipeline
from layerlab.engine import RunDir, evaluate, fit
from layerlab.engine.card import ModelCard
from layerlab.engine.run import seed_everything
from layerlab.errors import LayerlabError
from layerlab.inspect import summary
from layerlab.labs.base import LabConfig, LabResult, Note, option, register_lab
from layerlab.labs.transfer_source import build, pretrained_weights
from layerlab.models.registry import MODELS
from layerlab.models.pretrained import load_pretrained
from layerlab.models.transfer import freeze_features, last_block, replace_head, unfreeze
from layerlab.viz.compare import plot_runs
from layerlab.viz.model import model_figures
from layerlab.viz.reports import classification_figures


@dataclass(frozen=True)
class TransferVgg16Config(LabConfig):
    weights: str = option("", "'': the offline demonstration; 'imagenet'; or a weights file")
    model: str = option("vgg16", "the architecture of --weights; 'cifar-vgg' is the small net below")
    dataset: str = option("cifar10", "cifar10: the demonstration; image-folder: yours", choices=("cifar10", "image-folder"))
    classes: tuple[str, ...] = option(("cat", "dog"), "cifar10: the new task (the rest pretrain); image-folder: ignored")
    per_class: int = option(100, "cifar10: training images per new class")
    size: int = option(0, "image-folder: resize to SIZE x SIZE (0: the model's input size)")
    source_dir: str = option("", "image-folder without --weights: where CIFAR-10 is ('': the usual places)")
    unfreeze_last: bool = option(False, "also fine-tune the last conv block")
    dropout: float = option(0.5, "dropout before the new head")
    baseline: bool = option(True, "also train the same net from scratch, same budget")
    widths: tuple[int, ...] = option((32, 64, 128), "cifar-vgg: each basic block's channels")
    hidden: int = option(256, "cifar-vgg: the hidden FC layer")
    pretrain_epochs: int = option(6, "the demonstration's pretraining on the source classes")
    epochs: int = option(30, "fine-tuning epochs (4 steps each with 200 images)")
    batch_size: int = 50
    lr: float = option(1e-3, "learning rate of Adam, fine-tuning and from scratch alike")
    amp: bool = option(True, "bf16 autocast: faster on a CPU with AVX-512 BF16")
    channels_last: bool = option(True, "NHWC memory layout: faster convolutions on a CPU")


@register_lab("transfer-vgg16", config=TransferVgg16Config, title="Transfer learning: a pretrained VGG on new classes",
              unit="3주차 실습: 전이학습모델 VGG로 분류하기 (transfer learning, dropout)",
              metric="test_accuracy", higher_is_better=True)
def transfer_vgg16(cfg: TransferVgg16Config, run: RunDir) -> LabResult:
    # 1. Data: the new task's few training images and all its test images; the source task is the rest
    if cfg.dataset == "image-folder":
        return _own_images(cfg, run)
    train = get_dataset("cifar10", split="train", root=cfg.data_dir or None)
    test = get_dataset("cifar10", split="test", root=cfg.data_dir or None)
    missing = sorted(set(cfg.classes) - set(train.classes))
    if missing or len(cfg.classes) < 2:
        raise LayerlabError(f"--classes needs 2+ of {', '.join(train.classes)}; got {','.join(cfg.classes)}")
    per_class = min(cfg.per_class, 10) if cfg.quick else cfg.per_class
    target_train = select_classes(train, cfg.classes, per_class, cfg.seed)
    target_test = select_classes(test, cfg.classes)
    return _transfer(cfg, run, train, target_train, target_test, others=tuple(c for c in train.classes if c not in cfg.classes),
                     task=f"{' vs '.join(cfg.classes)} from {per_class} images per class", dataset="cifar10",
                     test_name="test")


def _own_images(cfg: TransferVgg16Config, run: RunDir) -> LabResult:
    """The user's folder is the new task; CIFAR-10 (all ten classes) is the source when no --weights are given."""
    arch = cfg.model if cfg.weights else "cifar-vgg"
    shape = (3, 32, 32) if arch == "cifar-vgg" else MODELS.get(arch).meta["input_shape"]
    size = (cfg.size, cfg.size) if cfg.size else tuple(shape[1:])
    root = find_images(Path(cfg.data_dir) if cfg.data_dir else None)
    target_train, target_val, target_test, _ = folder_splits(root, size=size, channels=3, seed=cfg.seed)
    target_test, test_name = (target_test, "test") if target_test is not None else (target_val, "val")
    if cfg.quick:
        target_train, target_test = target_train.subset(slice(0, 32)), target_test.subset(slice(0, 32))
    if not cfg.weights and size != (32, 32):
        raise LayerlabError(f"the CIFAR-10 pretraining is at 32x32: leave --size unset or 32 (got {cfg.size}), or give --weights")
    source = None if cfg.weights else get_dataset("cifar10", split="train", root=cfg.source_dir or None)
    return _transfer(cfg, run, source, target_train, target_test, others=source.classes if source is not None else (),
                     task=f"{Path(str(root)).name}: {', '.join(target_train.classes)}", dataset="image-folder",
                     test_name=test_name, data_dir=str(root))


def _transfer(cfg: TransferVgg16Config, run: RunDir, train: TensorData | None, target_train: TensorData,
              target_test: TensorData, *, others: tuple[str, ...], task: str, dataset: str, test_name: str,
              data_dir: str | None = None) -> LabResult:
    mean, std = (train.meta["mean"], train.meta["std"]) if train is not None else channel_stats(target_train)
    classes = target_train.classes
    augment = augment_pipeline(mean, std, channels_last=cfg.channels_last)
    to_eval = eval_pipeline(mean, std, channels_last=cfg.channels_last)
    # 2. Pretrained weights: a file, ImageNet, or our own net pretrained on the other classes
    source, pretrain_metrics, arch = pretrained_weights(cfg, train, others, augment, to_eval, run)
    # 3. Transfer: load, replace the head, freeze the features, fine-tune on the few new images
    budget = {"optimizer": "adam", "lr": cfg.lr, "epochs": 2 if cfg.quick else cfg.epochs,
              "batch_size": cfg.batch_size, "amp": cfg.amp, "channels_last": cfg.channels_last, "device": cfg.device,
              "seed": cfg.seed, "transform": augment, "eval_transform": to_eval, "progress": cfg.progress}
    seed_everything(cfg.seed)
    model, name, overrides = build(cfg, arch, len(classes))
    load_pretrained(model, source, skip_mismatched_head=True)
    replace_head(model, len(classes), dropout=cfg.dropout)
    frozen = freeze_features(model)
    if cfg.unfreeze_last:
        frozen -= unfreeze(last_block(model))
    # the test images draw the curves only, logged as test_*: no choice is made from them (no early stopping)
    history = fit(model, target_train, val=target_test, val_name=test_name, run=run, stage="main", **budget)
    metrics = {**evaluate(model, target_test, transform=to_eval, amp=cfg.amp, prefix="test_"), **pretrain_metrics}
    runs = {"transfer": history.epochs}
    if cfg.baseline:  # 4. The same net from random weights, every layer trainable, same budget
        seed_everything(cfg.seed)
        scratch, _, _ = build(cfg, arch, len(classes))
        scratch_history = fit(scratch, target_train, val=target_test, val_name=test_name, run=run, stage="scratch", **budget)
        metrics["scratch_test_accuracy"] = evaluate(scratch, target_test, transform=to_eval, amp=cfg.amp)["accuracy"]
        runs["from scratch"] = scratch_history.epochs
    # 5. Report
    figures, numbers = classification_figures(model, target_test, run, history=history, transform=to_eval, amp=cfg.amp)
    figures.append(run.save_figure(plot_runs(runs, keys=("train_loss", f"{test_name}_accuracy"),
                                             title=f"{task}: transfer vs from scratch"), "transfer_vs_scratch"))
    image = to_eval(target_test.inputs[:1], target_test.targets[:1], torch.Generator())[0][0]  # (C, H, W), normalised
    figures += model_figures(model, image, run.figures, display=target_test.inputs[0], classes=target_test.classes,
                             lang=cfg.lang)
    table = summary(model, tuple(target_train.inputs.shape[1:]))
    notes = _notes(cfg, source=source, frozen=frozen, params=table.total_params, classes=classes, n_train=len(target_train),
                   n_test=len(target_test), test_name=test_name, metrics=metrics)
    card = ModelCard(model=name, overrides=overrides, input_shape=tuple(target_train.inputs.shape[1:]),
                     classes=tuple(classes), mean=mean, std=std, dataset=dataset,
                     data_dir=data_dir or cfg.data_dir or None, data_source=target_train.meta.get("source"),
                     test_split="test" if test_name == "test" else "")
    tables = {"Per-class test accuracy": [{"class": k, "accuracy": v} for k, v in numbers["per_class_accuracy"].items()]}
    title = f"Transfer learning: a pretrained VGG on {task.split(':')[0]}" if dataset == "image-folder" else ""
    return LabResult(metrics=metrics, history=history, summary=table, card=card, notes=notes, tables=tables,
                     figures=figures, title=title)


def _notes(cfg: TransferVgg16Config, *, source: str, frozen: int, params: int, classes: list[str], n_train: int,
           n_test: int, test_name: str, metrics: dict[str, float]) -> list[Note]:
    frozen_, params_, n_test_, names, ours = f"{frozen:,}", f"{params:,}", f"{n_test:,}", ", ".join(classes), f"{metrics['test_accuracy']:.4f}"
    scratch = f"{metrics['scratch_test_accuracy']:.4f}" if cfg.baseline else ""
    split = {"test": "테스트", "val": "검증"}[test_name]
    notes = [Note(f"Weights: {source}. Frozen {frozen_} of {params_} parameters"
                  f"{' (last block unfrozen)' if cfg.unfreeze_last else ''}; the new head has {len(classes)} outputs.",
                  f"가중치: {source}. 파라미터 {params_}개 중 {frozen_}개를 고정"
                  f"{' (마지막 블록은 풀어 줌)' if cfg.unfreeze_last else ''}; 새 분류기(head)의 출력은 {len(classes)}개."),
             Note(f"{n_train} training images; accuracy on all {n_test_} {test_name} images of {names}: transfer {ours}"
                  + (f", from scratch {scratch}" if scratch else "") + f" (seed {cfg.seed}).",
                  f"학습 이미지 {n_train}장; {names}의 {split} 이미지 {n_test_}장 전체에서 정확도: 전이 학습 {ours}"
                  + (f", 처음부터 학습 {scratch}" if scratch else "") + f" (시드 {cfg.seed}).")]
    if test_name != "test":
        notes.append(Note("There is no test/ folder: the accuracy is measured on the validation images the curves show.",
                          "test/ 폴더가 없어서, 정확도는 곡선에 나오는 검증 이미지로 쟀습니다."))
    return notes
