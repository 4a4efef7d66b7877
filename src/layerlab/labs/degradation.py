"""Lab: the degradation problem, plain vs residual nets at 20 and 56 layers. Course unit: ResNet (4주차)
and "Degradation problem" (네트워크가 깊어지면 정확도가 떨어지는 문제: 과적합이 아니라 최적화의 문제).

Goal: the ResNet paper's Figure 6 (He et al. 2015, §4.2) on CIFAR-10. plain-20, plain-56, ResNet-20
and ResNet-56 (models/resnet.py: 6n + 2 layers, 16/32/64 channels, option-A shortcuts, so each
plain twin has exactly its ResNet's 269,722 or 853,018 parameters) are trained with one recipe,
SGD with momentum 0.9, weight decay 1e-4, 4-pixel crop + flip as in the paper; by default batches
of 64 at a peak lr of 0.05 (the paper's 128 at 0.1, halved: the same step per image and twice the
steps from the few images a CPU can afford), and a one-cycle schedule: the rate rises from lr/25
over the first quarter of the steps, then anneals to almost 0. The paper divides a constant rate
by 10 at 32k and 48k of 64k steps (`--schedule warmup-multistep`: lr/10 rising over 5% of the run,
then /10 at 50% and 75%; plain `multistep` has no warm-up, and a 2,000-image run of 10 epochs saw
ResNet-56's loss jump to 3.8 in its first epoch). In 1,500 steps the one-cycle run trains every
net further. The figure draws training error (dashed) and test error (bold) per epoch, plain nets
on the left and ResNets on the right, on one error scale.

What to notice: the plain 56-layer net has the HIGHER training error of the two plain nets. More
layers can represent everything fewer can (the extra layers could be identities), so this is not
overfitting but an optimisation failure. With shortcuts the extra layers start near the identity,
and in the paper ResNet-56 trains better than ResNet-20.

Default: a CPU-sized run, 4,000 training images (400 per class) and 2,000 test images, 24 epochs
(1,500 steps) for each of the four nets: the paper's ordering is about fitting the training images,
and fewer images seen more often let 1,500 steps fit them further. The training error is the
running error on the augmented batches of each epoch, as in the paper's curves. `--full` is the paper's run, for a GPU: all
50,000 training and 10,000 test images, batches of 128 at lr 0.1 without warm-up, 164 epochs (64k
iterations); the paper reports test error 8.75% for ResNet-20 and 6.97% for ResNet-56, and plain-56
above plain-20.
Expected with the defaults (measured, seed 0): the degradation, clearly: plain-56 ends 35 points of
training error above plain-20 (66.3% against 31.3%). With shortcuts the 56-layer net trains as
well as the 20-layer one (25.85% against 25.93%): the paper's ordering, but by 3 images of 4,000,
a tie within what another seed moves. Earlier defaults (8,000 images x 12 epochs) left ResNet-56
2.1 points above ResNet-20 with warm-up + multistep, 0.9 above with one-cycle. The README's lab
table has the measured runs.
"""

from __future__ import annotations

import dataclasses
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
from layerlab.viz.depth import plot_degradation

# --full: the paper's run. 164 epochs = 64,000 iterations of 128 images over 50,000
PAPER = {"train_size": 0, "test_size": 0, "batch_size": 128, "lr": 0.1, "epochs": 164, "schedule": "multistep"}


@dataclass(frozen=True)
class DegradationConfig(LabConfig):
    dataset: str = option("cifar10", "the image dataset (layerlab data list)")
    depths: tuple[int, ...] = option((20, 56), "two depths of 6n + 2; each is trained plain and residual")
    train_size: int = option(4000, "a class-balanced subset of the 50,000 (0: all)")
    test_size: int = option(2000, "a class-balanced subset of the 10,000 (0: all)")
    full: bool = option(False, "the paper's run: all images, batch 128, lr 0.1, multistep, 164 epochs (a GPU's budget)")
    shortcut: str = option("A", "'A': zero-padding identity (the paper's CIFAR choice), 'B': 1x1 conv + BN")
    epochs: int = 24
    batch_size: int = 64           # the paper's 128 and 0.1 halved: the same step per image, twice the steps
    lr: float = 0.05
    momentum: float = option(0.9, "SGD momentum")
    weight_decay: float = option(1e-4, "L2 weight decay")
    schedule: str = option("one-cycle", "lr/25 rising to lr over 25% of the run, then annealed to ~0 (warmup-multistep: "
                           "the paper's steps after a 5% warm-up, then /10 at 50% and 75%)")
    amp: bool = option(True, "bf16 autocast")
    channels_last: bool = option(True, "channels_last memory layout (faster convolutions on a CPU)")


@register_lab("degradation", config=DegradationConfig, title="The degradation problem: plain vs residual, 20 vs 56 layers",
              unit="4주차 ResNet: degradation 문제와 잔차 연결 (He et al. 2015, Figure 6)",
              metric="test_accuracy", higher_is_better=True)
def degradation(cfg: DegradationConfig, run: RunDir) -> LabResult:
    if len(cfg.depths) != 2 or cfg.depths[0] >= cfg.depths[1]:
        raise LayerlabError(f"--depths takes a shallow and a deep depth, like 20,56; got {','.join(map(str, cfg.depths))}")
    cfg = _paper_run(cfg) if cfg.full else cfg
    # 1. Data: a class-balanced subset (or everything with --full), the training split's mean and std
    train = get_dataset(cfg.dataset, split="train", root=cfg.data_dir or None)
    test = get_dataset(cfg.dataset, split="test", root=cfg.data_dir or None)
    mean, std = train.meta["mean"], train.meta["std"]
    sizes = (100, 50) if cfg.quick else (cfg.train_size, cfg.test_size)
    train, test = balanced_subset(train, sizes[0], cfg.seed), balanced_subset(test, sizes[1], cfg.seed)
    augment = augment_pipeline(mean, std, channels_last=cfg.channels_last)
    to_eval = eval_pipeline(mean, std, channels_last=cfg.channels_last)
    epochs = 1 if cfg.quick else cfg.epochs
    # 2. + 3. Four nets, one recipe: every net sees the same batches in the same order (seed)
    shallow, deep = cfg.depths
    nets = [("plain", shallow), ("plain", deep), ("resnet", shallow), ("resnet", deep)]
    histories: dict[str, History] = {}
    for family, depth in nets:
        name = f"{family}-{depth}"   # a plain net is its ResNet with skip=False: the same layers and parameters
        model = get_model("resnet20", depth=depth, skip=family == "resnet", shortcut=cfg.shortcut,
                          num_classes=train.num_classes)
        last = (family, depth) == nets[-1]  # the deep ResNet is the run's main model (model.safetensors)
        histories[name] = fit(model, train, val=test, val_name="test", loss="cross_entropy", optimizer="sgd", lr=cfg.lr,
                              momentum=cfg.momentum, weight_decay=cfg.weight_decay, epochs=epochs,
                              batch_size=cfg.batch_size, schedule=cfg.schedule, amp=cfg.amp, channels_last=cfg.channels_last,
                              device=cfg.device, seed=cfg.seed, transform=augment, eval_transform=to_eval, run=run,
                              stage="main" if last else name.replace("-", ""), progress=cfg.progress)
    # 4. Report: the final errors, the two gaps the paper's Figure 6 is about, and the figure
    metrics: dict[str, float] = {}
    for name, history in histories.items():
        key = name.replace("-", "")                    # plain-20 -> plain20_train_error, ...
        metrics[f"{key}_train_error"] = 1 - history.last["train_accuracy"]
        metrics[f"{key}_test_error"] = 1 - history.last["test_accuracy"]
    for family in ("plain", "resnet"):                 # > 0: the deeper net fits its training images worse
        metrics[f"{family}_deeper_minus_shallower_train_error"] = (metrics[f"{family}{deep}_train_error"]
                                                                   - metrics[f"{family}{shallow}_train_error"])
    metrics["test_accuracy"] = 1 - metrics[f"resnet{deep}_test_error"]
    panels = {"plain nets": {n: histories[n].epochs for n in (f"plain-{shallow}", f"plain-{deep}")},
              "ResNets": {f"ResNet-{d}": histories[f"resnet-{d}"].epochs for d in (shallow, deep)}}
    figure = run.save_figure(plot_degradation(panels, title=f"CIFAR-10, {len(train):,} training images, {epochs} epochs: "
                                                           "dashed = training error, bold = test error"), "degradation")
    table = summary(model, tuple(train.inputs.shape[1:]))   # the last net trained: the deep ResNet
    notes = _notes(metrics, shallow, deep, len(train), len(test))
    card = ModelCard(model="resnet20", overrides={"depth": deep, "shortcut": cfg.shortcut, "num_classes": train.num_classes},
                     input_shape=tuple(train.inputs.shape[1:]), classes=train.classes, mean=mean, std=std,
                     dataset=cfg.dataset, data_dir=cfg.data_dir or None, data_source=train.meta.get("source"))
    rows = [{"net": n, "train_error_%": round(100 * (1 - h.last["train_accuracy"]), 2),
             "test_error_%": round(100 * (1 - h.last["test_accuracy"]), 2)} for n, h in histories.items()]
    tables = {"Final errors (last epoch)": rows, **{f"{n}: training history": h.epochs for n, h in histories.items()
                                                     if n != f"resnet-{deep}"}}
    return LabResult(metrics=metrics, history=histories[f"resnet-{deep}"], summary=table, card=card, notes=notes,
                     tables=tables, figures=[figure])


def _paper_run(cfg: DegradationConfig) -> DegradationConfig:
    """--full: the paper's data, batch, rate and epochs in place of the CPU-sized defaults."""
    changed = [key for key in PAPER if getattr(cfg, key) != getattr(DegradationConfig(), key)]
    if changed:
        raise LayerlabError(f"--full is the paper's run (all images, batch 128, lr 0.1, multistep, 164 epochs); "
                            f"drop --{changed[0].replace('_', '-')}")
    return dataclasses.replace(cfg, **PAPER)


def _notes(metrics: dict[str, float], shallow: int, deep: int, n_train: int, n_test: int) -> list[Note]:
    """The two comparisons of Figure 6 in words, with the verdict the numbers give."""
    plain_gap = f"{100 * metrics['plain_deeper_minus_shallower_train_error']:+.2f}"
    resnet_gap = f"{100 * metrics['resnet_deeper_minus_shallower_train_error']:+.2f}"
    worse = Note("degradation: the deeper plain net fits the training images worse",
                 "degradation: 더 깊은 plain 신경망이 학습 이미지를 더 못 맞춥니다")
    not_worse = Note("no degradation seen in this run: the deeper plain net fits the training images at least as well",
                     "이번 실행에서는 degradation이 보이지 않음: 더 깊은 plain 신경망도 학습 이미지를 적어도 그만큼 맞춥니다")
    plain = worse if metrics["plain_deeper_minus_shallower_train_error"] > 0 else not_worse
    resnet = Note("the deeper ResNet trains at least as well", "더 깊은 ResNet도 적어도 그만큼 학습됩니다") \
        if metrics["resnet_deeper_minus_shallower_train_error"] <= 0 else \
        Note("the deeper ResNet trains worse in this run", "이번 실행에서는 더 깊은 ResNet이 더 못 학습됩니다")
    images, tests = f"{n_train:,}", f"{n_test:,}"
    return [Note(f"Training error, plain-{deep} minus plain-{shallow}: {plain_gap} points ({plain.en}).",
                 f"학습 오차, plain-{deep} 빼기 plain-{shallow}: {plain_gap}%p ({plain.ko})."),
            Note(f"Training error, ResNet-{deep} minus ResNet-{shallow}: {resnet_gap} points ({resnet.en}).",
                 f"학습 오차, ResNet-{deep} 빼기 ResNet-{shallow}: {resnet_gap}%p ({resnet.ko})."),
            Note(f"{images} training images, {tests} test images; errors are those of the last epoch "
                 "(training: the running error over the epoch's augmented batches, as the paper draws it).",
                 f"학습 이미지 {images}장, 테스트 이미지 {tests}장; 오차는 마지막 에포크의 값입니다 "
                 "(학습 오차: 논문의 그림처럼, 그 에포크의 증강된 배치들에 대한 누적 오차)."),
            Note("The test set is only watched (no early stopping, nothing chosen on it); `layerlab eval` scores the "
                 f"saved ResNet-{deep} on the whole test split. Its training history ends this report.",
                 "테스트 세트는 지켜보기만 합니다 (조기 종료 없음, 이것으로 고르는 것 없음); `layerlab eval`은 저장된 "
                 f"ResNet-{deep}을 테스트 세트 전체로 평가합니다. 그 학습 기록이 이 보고서의 끝에 있습니다.")]
