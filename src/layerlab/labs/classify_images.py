"""Lab: classify your own images with any model of the zoo. Course units: CNN 실습, 전이학습.

The practitioner's lab: a folder of your photos, one subfolder per class, becomes a trained
classifier with a report, in one command:

    layerlab run classify-images --data-dir pets                       # pets/train/<class>/*.jpg
    layerlab run classify-images --data-dir pets --model vgg16 --weights imagenet --freeze
    layerlab run classify-images --data-dir pets --weights runs/classify-images-...   # from your own run

- `DIR/train/<class>/` is required; `DIR/val/<class>/` is used when it exists, otherwise
  `--val-fraction` of the training images are held out (stratified, seeded); `DIR/test/<class>/`,
  when it exists, is scored once at the end and never used to choose anything. A .tar.gz/.zip of
  that layout works too.
- `--size N` resizes every image to N x N (default: the model's own input size, 32 for the CIFAR
  nets, 224 for the ImageNet ones); images are read in the model's channels (RGB or gray).
- `--weights`: "" trains from random weights; `imagenet` loads torchvision's published weights for
  `--model` (through torch.hub, checksum-verified); a run folder or a .safetensors/.pt file starts
  from your own trained weights. The head is replaced to fit your classes; `--freeze` trains only it.
- Unreadable files are left out with one warning naming them; the report names the files of the
  most confidently wrong predictions.

Goal: from a clean folder to a trained model, its accuracy and its mistakes, with no code.
Expected: on CIFAR-10 test images written out as a folder (2 classes, 200 per class) the default
resnet18-cifar reaches clearly above chance (the tests check > 0.8 on an easy synthetic folder).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from layerlab.data.images import find_images, folder_splits
from layerlab.data.tensors import TensorData, balanced_subset
from layerlab.data.transforms import augment_pipeline, channel_stats, eval_pipeline
from layerlab.engine import RunDir, evaluate, fit
from layerlab.engine.card import ModelCard
from layerlab.errors import LayerlabError
from layerlab.inspect import summary
from layerlab.labs.base import LabConfig, LabResult, Note, option, register_lab
from layerlab.models import get_model
from layerlab.models.pretrained import IMAGENET_URLS, load_pretrained
from layerlab.models.registry import MODELS, config_fields
from layerlab.models.transfer import freeze_features
from layerlab.viz.reports import classification_figures


@dataclass(frozen=True)
class ClassifyImagesConfig(LabConfig):
    model: str = option("resnet18-cifar", "any image classifier of `layerlab list models`")
    size: int = option(0, "resize every image to SIZE x SIZE (0: the model's own input size)")
    weights: str = option("", "'': random init; 'imagenet'; or a run folder or weights file of yours")
    freeze: bool = option(False, "with --weights: train the new head only")
    val_fraction: float = option(0.1, "held out from train/ when there is no val/ folder")
    epochs: int = 10
    batch_size: int = 64
    lr: float = option(2e-3, "peak learning rate of Adam under the schedule")
    schedule: str = option("one-cycle", "learning-rate schedule (layerlab list schedules; 'none': constant lr)")
    augment: bool = option(True, "random crop (padding size/8) and horizontal flip")
    amp: bool = option(True, "bf16 autocast where the device has it")
    channels_last: bool = option(True, "channels_last memory layout (faster convolutions on CPUs)")


@register_lab("classify-images", config=ClassifyImagesConfig, title="Classify your own images",
              unit="CNN 실습, 전이학습 (your own data: a folder per class)",
              metric="test_accuracy", higher_is_better=True)
def classify_images(cfg: ClassifyImagesConfig, run: RunDir) -> LabResult:
    # 1. The model decides the input: its channels, and its size unless --size says otherwise
    channels, height, width = _model_input(cfg)
    size = (cfg.size, cfg.size) if cfg.size else (height, width)
    options = {"size": size, "channels": channels}
    root = find_images(Path(cfg.data_dir) if cfg.data_dir else None)
    # 2. Data: train/, then val/ (or a held-out part of train/), then test/ if there is one
    train, val, test, held_out = folder_splits(root, **options, val_fraction=cfg.val_fraction, seed=cfg.seed)
    if cfg.quick:
        # a seeded slice with every class in it: the first rows of a folder set are all one class
        train, val = balanced_subset(train, 64, cfg.seed), balanced_subset(val, 32, cfg.seed)
        test = balanced_subset(test, 32, cfg.seed) if test is not None else None
    if train.num_classes < 2:
        raise LayerlabError(f"{root}: train/ has {train.num_classes} class folder; a classifier needs 2 or more")
    mean, std = channel_stats(train)          # the images the model trains on, nothing else
    pad = max(1, size[0] // 8) if cfg.augment else 0
    augment = augment_pipeline(mean, std, crop_padding=pad, flip=cfg.augment, channels_last=cfg.channels_last)
    plain = eval_pipeline(mean, std, channels_last=cfg.channels_last)
    # 3. Model: the zoo's architecture with a head for these classes, from random or given weights
    overrides = {"num_classes": train.num_classes, "in_channels": channels}
    if "image_size" in config_fields(MODELS.get(cfg.model)):   # a net whose flatten size follows the image (cifar-cnn)
        overrides["image_size"] = size[0]
    model = get_model(cfg.model, **overrides)
    source, frozen = _start_from(cfg, model)
    # 4. Train, watching val; 5. score test/ once (or val, said so, when there is no test/)
    history = fit(model, train, val=val, optimizer="adam", lr=cfg.lr, epochs=1 if cfg.quick else cfg.epochs,
                  batch_size=cfg.batch_size, amp=cfg.amp, channels_last=cfg.channels_last, device=cfg.device,
                  seed=cfg.seed, transform=augment, eval_transform=plain, run=run, progress=cfg.progress,
                  schedule=cfg.schedule)
    judged, judged_name = (test, "test") if test is not None else (val, "val")
    metrics = evaluate(model, judged, transform=plain, amp=cfg.amp, prefix="test_")
    figures, numbers = classification_figures(model, judged, run, history=history, transform=plain, amp=cfg.amp)
    name = Path(str(root)).name
    notes = _notes(cfg, name=name, splits=(train, val, test), channels=channels, size=size, source=source, frozen=frozen,
                   judged_name=judged_name, judged=len(judged), held_out=held_out)
    tables = {"Per-class accuracy": [{"class": k, "accuracy": v} for k, v in numbers["per_class_accuracy"].items()],
              "Most confidently wrong": numbers["confidently_wrong"]}
    card = ModelCard(model=cfg.model, overrides=overrides, input_shape=(channels, *size), classes=train.classes,
                     mean=mean, std=std, dataset="image-folder", data_dir=str(root), data_source=str(root),
                     test_split="test" if test is not None else "",
                     extra={} if test is not None else {"judged_by": "val (no test/ folder)"})
    return LabResult(metrics=metrics, history=history, summary=summary(model, (channels, *size)), card=card,
                     notes=notes, tables=tables, figures=figures, title=f"Classify your own images: {name}")


def _notes(cfg: ClassifyImagesConfig, *, name: str, splits: tuple[TensorData, TensorData, TensorData | None],
           channels: int, size: tuple[int, int], source: str, frozen: int, judged_name: str, judged: int,
           held_out: bool) -> list[Note]:
    """What the run read (train, val, test), where its weights came from, and which images test_accuracy counts."""
    train, val, test = splits
    n_train, n_val, n_test = f"{len(train):,}", f"{len(val):,}", f"{len(test):,}" if test is not None else ""
    kind, classes, h, w = "gray" if channels == 1 else "RGB", ", ".join(train.classes), *size
    origin = "무작위 가중치" if source == "random weights" else source
    notes = [Note(f"{name}: {train.num_classes} classes ({classes}); {n_train} training, {n_val} validation"
                  + (f", {n_test} test" if n_test else "") + f" images at {h}x{w}, {kind}.",
                  f"{name}: 클래스 {train.num_classes}개 ({classes}); 학습 {n_train}장, 검증 {n_val}장"
                  + (f", 테스트 {n_test}장" if n_test else "") + f", 크기 {h}x{w}, {'흑백' if channels == 1 else 'RGB'}."),
             Note(f"Model {cfg.model} from {source}" + (f"; {frozen:,} parameters frozen, the new head trained" if frozen else "") + ".",
                  f"모델 {cfg.model}, 시작 가중치: {origin}" + (f"; 파라미터 {frozen:,}개를 고정하고 새 분류기(head)만 학습" if frozen else "") + "."),
             Note(f"test_accuracy is measured on {judged_name}/ ({judged:,} images)"
                  + ("" if test is not None else ": there is no test/ folder, so it is the validation set the run watched") + ".",
                  f"test_accuracy는 {judged_name}/ (이미지 {judged:,}장)에서 쟀습니다"
                  + ("" if test is not None else ": test/ 폴더가 없어서, 학습 중에 지켜본 검증 세트입니다") + ".")]
    if held_out:
        share = f"{cfg.val_fraction:.0%}"
        notes.append(Note(f"No val/ folder: {share} of train/ was held out for validation (seed {cfg.seed}).",
                          f"val/ 폴더가 없어서 train/의 {share}를 검증용으로 떼어 두었습니다 (시드 {cfg.seed})."))
    return notes


def _model_input(cfg: ClassifyImagesConfig) -> tuple[int, int, int]:
    """(channels, height, width) the model was registered with; only image classifiers qualify."""
    entry = MODELS.get(cfg.model)
    shape, fields = entry.meta["input_shape"], config_fields(entry)
    if entry.meta["task"] != "classification" or len(shape) != 3 or not {"num_classes", "in_channels"} <= set(fields):
        usable = [n for n in MODELS.names() if MODELS.get(n).meta["task"] == "classification"
                  and len(MODELS.get(n).meta["input_shape"]) == 3 and "in_channels" in config_fields(MODELS.get(n))]
        raise LayerlabError(f"--model {cfg.model} is not an image classifier; use one of {', '.join(usable)}")
    if cfg.size < 0:
        raise LayerlabError(f"--size must be a positive number of pixels (0: the model's own), got {cfg.size}")
    return int(shape[0]), int(shape[1]), int(shape[2])


def _start_from(cfg: ClassifyImagesConfig, model: torch.nn.Module) -> tuple[str, int]:
    """Load --weights (head skipped: it has other classes) and freeze if asked: (where from, parameters frozen)."""
    if not cfg.weights:
        if cfg.freeze:
            raise LayerlabError("--freeze keeps pretrained features fixed: give --weights imagenet, a run folder or a file")
        return "random weights", 0
    if cfg.weights == "imagenet":
        if cfg.model not in IMAGENET_URLS:
            raise LayerlabError(f"--weights imagenet needs --model one of {', '.join(IMAGENET_URLS)}; got {cfg.model}")
        source = IMAGENET_URLS[cfg.model]
    else:
        source = _weights_file(Path(cfg.weights), cfg.model)
    load_pretrained(model, source, skip_mismatched_head=True)
    return str(source), freeze_features(model) if cfg.freeze else 0


def _weights_file(path: Path, model: str) -> Path:
    """A weights file as given, or a run folder's final weights (checked to be the same architecture)."""
    if path.is_file():
        return path
    if path.is_dir():
        card = ModelCard.load(path / "model.json")
        if card.model != model:
            raise LayerlabError(f"{path} trained {card.model}, not {model}: pass --model {card.model}")
        weights = path / "model.safetensors"
        if not weights.is_file():
            raise LayerlabError(f"{path} has no model.safetensors yet (did the run finish?)")
        return weights
    raise LayerlabError(f"--weights {path}: no such file or run folder (expected imagenet, a run folder or a weights file)")
