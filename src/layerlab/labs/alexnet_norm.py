"""Lab: local response normalisation vs batch normalisation in an AlexNet-style CIFAR net. Course unit:
AlexNet and VGGNet (convolution / pooling / LRN; "LRN 보다 Batch로 정규화 하는 것이 훨씬 성능이 좋아
현재는 Batch 사용").

Goal: measure the course's claim that batch normalisation works much better than AlexNet's LRN.
One net (models/alexnet.py `alexnet-cifar`: AlexNet's 5 conv + 3 FC layers cut down for 32x32
images) is trained three times with one recipe, changing only `norm`:
  none   no normalisation (what VGG and torchvision's AlexNet kept),
  lrn    LRN after the ReLU of conv1 and conv2, before their pools (the 2012 paper),
  batch  batch normalisation after every conv, before its ReLU (what replaced LRN).
Recipe: AlexNet's SGD (momentum 0.9, weight decay 5e-4) in batches of 64 with a one-cycle rate
peaking at 0.05, 4-pixel crop + flip; every net starts from Kaiming-normal convs. The report gives
each net's test accuracy and the curves of all three in one figure.

What to notice: LRN holds no parameters and, with k = 2, divides a channel by about 2^0.75 unless
its neighbours fire strongly, so it changes little; batch norm re-centres and re-scales every
conv's output for every batch, which lets the same rate train faster.
Default: a CPU-sized run, 12,000 training images (1,200 per class) and 2,000 test images, 6 epochs
(1,125 steps) per net; torch's LocalResponseNorm is slow on a CPU, so the LRN net takes the longest.
Expected with the defaults: batch norm well ahead (test accuracy about 0.60 against 0.44 to 0.48,
and the lowest training loss from the first epoch on); LRN within a few points of no normalisation
(ahead here; behind in a shorter trial of 6,000 images and 4 epochs, 0.29 against 0.32), so its
effect is about the size of the run-to-run difference. The short run leaves every net far from its
final accuracy: more epochs raise all three (the README's lab table has the measured run).
"""

from __future__ import annotations

from dataclasses import dataclass

from layerlab.data import get_dataset
from layerlab.data.tensors import balanced_subset
from layerlab.data.transforms import augment_pipeline, eval_pipeline
from layerlab.engine import History, RunDir, fit
from layerlab.engine.card import ModelCard
from layerlab.errors import LayerlabError
from layerlab.inspect import summary
from layerlab.labs.base import LabConfig, LabResult, Note, option, register_lab
from layerlab.models import get_model
from layerlab.models.alexnet import NORMS
from layerlab.viz.compare import plot_runs

NAMES = {"none": "no normalisation", "lrn": "LRN (AlexNet 2012)", "batch": "batch norm"}


@dataclass(frozen=True)
class AlexnetNormConfig(LabConfig):
    dataset: str = option("cifar10", "the image dataset (layerlab data list)")
    norms: tuple[str, ...] = option(("none", "lrn", "batch"), "each is trained with the same recipe; the last is saved")
    train_size: int = option(12000, "a class-balanced subset of the 50,000 (0: all)")
    test_size: int = option(2000, "a class-balanced subset of the 10,000 (0: all)")
    epochs: int = 6
    batch_size: int = 64           # more steps from few images
    lr: float = 0.05               # the one-cycle peak
    momentum: float = option(0.9, "SGD momentum")
    weight_decay: float = option(5e-4, "AlexNet's")
    schedule: str = option("one-cycle", "learning-rate schedule (layerlab list schedules)")
    amp: bool = option(True, "bf16 autocast")
    channels_last: bool = option(True, "channels_last memory layout (faster convolutions on a CPU)")


@register_lab("alexnet-norm", config=AlexnetNormConfig, title="AlexNet-style CIFAR net: no normalisation vs LRN vs batch norm",
              unit="AlexNet / VGGNet: LRN(Local Response Normalization) 대신 배치 정규화",
              metric="test_accuracy", higher_is_better=True)
def alexnet_norm(cfg: AlexnetNormConfig, run: RunDir) -> LabResult:
    if not cfg.norms or any(n not in NORMS for n in cfg.norms):
        raise LayerlabError(f"--norms takes some of {','.join(NORMS)}, got {','.join(cfg.norms) or 'none of them'}")
    # 1. Data: a class-balanced subset, normalised with the training split's mean and std
    train = get_dataset(cfg.dataset, split="train", root=cfg.data_dir or None)
    test = get_dataset(cfg.dataset, split="test", root=cfg.data_dir or None)
    mean, std = train.meta["mean"], train.meta["std"]
    sizes = (100, 50) if cfg.quick else (cfg.train_size, cfg.test_size)
    train, test = balanced_subset(train, sizes[0], cfg.seed), balanced_subset(test, sizes[1], cfg.seed)
    augment = augment_pipeline(mean, std, channels_last=cfg.channels_last)
    to_eval = eval_pipeline(mean, std, channels_last=cfg.channels_last)
    # 2. + 3. The same net and recipe three times; only the normalisation layers differ
    histories: dict[str, History] = {}
    for norm in cfg.norms:
        model = get_model("alexnet-cifar", norm=norm, num_classes=train.num_classes)
        main = norm == cfg.norms[-1]   # the last net is the run's main model (model.safetensors)
        histories[norm] = fit(model, train, val=test, val_name="test", loss="cross_entropy", optimizer="sgd", lr=cfg.lr,
                              momentum=cfg.momentum, weight_decay=cfg.weight_decay, epochs=1 if cfg.quick else cfg.epochs,
                              batch_size=cfg.batch_size, schedule=cfg.schedule, amp=cfg.amp,
                              channels_last=cfg.channels_last, device=cfg.device, seed=cfg.seed, transform=augment,
                              eval_transform=to_eval, run=run, stage="main" if main else norm, progress=cfg.progress)
    # 4. Report: each net's final numbers and the curves of all of them in one figure
    metrics: dict[str, float] = {}
    for norm, history in histories.items():
        metrics[f"{norm}_test_accuracy"] = history.last["test_accuracy"]
        metrics[f"{norm}_train_loss"] = history.last["train_loss"]
    last = cfg.norms[-1]
    metrics["test_accuracy"] = metrics[f"{last}_test_accuracy"]
    figure = run.save_figure(plot_runs({NAMES[n]: h.epochs for n, h in histories.items()},
                                       keys=("train_loss", "train_accuracy", "test_accuracy"),
                                       title=f"AlexNet-style net on {len(train):,} CIFAR-10 images, same recipe"), "norm_compare")
    table = summary(model, tuple(train.inputs.shape[1:]))
    ranking = sorted(cfg.norms, key=lambda n: -metrics[f"{n}_test_accuracy"])
    notes = _notes(ranking, metrics, n_test=len(test), epochs=len(histories[last]), last=last)
    card = ModelCard(model="alexnet-cifar", overrides={"norm": last, "num_classes": train.num_classes},
                     input_shape=tuple(train.inputs.shape[1:]), classes=train.classes, mean=mean, std=std,
                     dataset=cfg.dataset, data_dir=cfg.data_dir or None, data_source=train.meta.get("source"))
    tables = {f"{NAMES[n]}: training history": histories[n].epochs for n in cfg.norms[:-1]}
    return LabResult(metrics=metrics, history=histories[last], summary=table, card=card, notes=notes, tables=tables,
                     figures=[figure])


KO_NAMES = {"none": "정규화 없음", "lrn": "LRN (AlexNet 2012)", "batch": "배치 정규화"}


def _notes(ranking: list[str], metrics: dict[str, float], *, n_test: int, epochs: int, last: str) -> list[Note]:
    scores = {n: f"{metrics[f'{n}_test_accuracy']:.4f}" for n in ranking}
    return [Note(f"Test accuracy on {n_test:,} images after {epochs} epochs: "
                 + ", ".join(f"{NAMES[n]} {scores[n]}" for n in ranking) + " (best first).",
                 f"{epochs} 에포크 뒤 이미지 {n_test:,}장에서 잰 테스트 정확도: "
                 + ", ".join(f"{KO_NAMES[n]} {scores[n]}" for n in ranking) + " (좋은 순서)."),
            Note("LRN adds no parameters; batch norm adds 2 per channel (scale and shift) after each of the 5 convs.",
                 "LRN은 파라미터를 더하지 않고, 배치 정규화는 합성곱 5개 각각의 뒤에서 채널마다 2개 (scale과 shift)를 더합니다."),
            Note(f"The training history at the end of this report is the {NAMES[last]} net's (the run's main model); "
                 "`layerlab eval` scores it on the whole test split.",
                 f"이 보고서 끝의 학습 기록은 {KO_NAMES[last]} 신경망 (이 실행의 주 모델)의 것이고, "
                 "`layerlab eval`은 이 모델을 테스트 세트 전체로 평가합니다.")]
