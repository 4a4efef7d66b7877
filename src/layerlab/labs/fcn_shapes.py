"""Lab: FCN-32s, FCN-16s and FCN-8s on generated shapes. Course unit: semantic segmentation (FCN:
convolutionalization, deconvolution, skip connections).

Goal: label every pixel of 64x64 images as background, circle, square or triangle (the `shapes`
set the library draws: 2-4 shapes of random colours on textured backgrounds, exact masks), with
the three FCNs of Long, Shelhamer & Darrell (2015) trained by the same recipe from the same seed.
They share the backbone (five basic blocks, fc6 and fc7 as convs) and differ only in the skips:
FCN-32s upsamples its stride-32 scores 32x in one step; FCN-16s adds pool4's scores first; FCN-8s
also pool3's. On 64x64 images stride 32 is a 2x2 grid of scores, so the skips matter a lot here.
Expected: mean IoU and pixel accuracy per variant in the report, in the order measured (the paper,
on PASCAL VOC 2011 val, fine-tuned from VGG16: 59.4 / 62.4 / 62.7 mean IU for 32s / 16s / 8s).
Measured once (seed 0, defaults, a shared machine): test mean IoU / pixel accuracy FCN-32s 0.275 /
0.800, FCN-16s 0.564 / 0.890, FCN-8s 0.723 / 0.942; painting all background scores 0.823 accuracy.
256 s of CPU on one thread.
The same FCNs on the ISBI membranes: `layerlab run unet-membrane --model fcn-8s`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from layerlab.data import get_dataset
from layerlab.data.transforms import channel_stats, compose, float_normalize, random_hflip, random_rot90, random_vflip
from layerlab.engine import RunDir, evaluate, fit
from layerlab.engine.card import ModelCard
from layerlab.errors import LayerlabError
from layerlab.inspect import summary
from layerlab.labs.base import LabConfig, LabResult, Note, option, register_lab
from layerlab.models import get_model
from layerlab.tasks.segmentation import class_metrics, predict_scores
from layerlab.viz.compare import plot_runs
from layerlab.viz.segmentation import plot_class_predictions

PAPER_MEAN_IU = {"fcn-32s": 59.4, "fcn-16s": 62.4, "fcn-8s": 62.7}     # VOC 2011 val, the paper's table 3


@dataclass(frozen=True)
class FcnShapesConfig(LabConfig):
    variants: tuple[str, ...] = option(("fcn-32s", "fcn-16s", "fcn-8s"), "trained in this order; the last one is saved")
    size: int = option(64, "image side, a multiple of 32 (five poolings)")
    train_images: int = option(1000, "generated training images")
    val_images: int = option(100, "validation images: choose each variant's best epoch (by mean IoU)")
    test_images: int = option(200, "test images, scored once at the end")
    data_seed: int = option(0, "the seed of the shapes drawn; --seed is the training seed")
    epochs: int = 12
    batch_size: int = 16
    lr: float = 3e-3             # Adam, cosine-annealed to 0
    flips: bool = option(False, "random flips and quarter turns (mask moved too): slower to learn in 12 epochs")
    examples: int = option(4, "test images drawn with every variant's prediction")
    amp: bool = option(False, "bf16 autocast (measured slower than float32 for these small convs on a CPU)")


def read_shapes(cfg: FcnShapesConfig) -> dict:
    """The three splits, drawn from `data_seed` (quick: a few images of them); options checked first."""
    unknown = [v for v in cfg.variants if v not in PAPER_MEAN_IU]
    if unknown or not cfg.variants:
        raise LayerlabError(f"--variants takes fcn-32s, fcn-16s and fcn-8s (comma-separated), got {','.join(cfg.variants)!r}")
    if cfg.size < 32 or cfg.size % 32:
        raise LayerlabError(f"--size must be a multiple of 32 (an FCN pools five times), got {cfg.size}")
    counts = {"train": cfg.train_images, "val": cfg.val_images, "test": cfg.test_images}
    if cfg.quick:
        counts = {split: min(count, 32) for split, count in counts.items()}
    return {split: get_dataset("shapes", split=split, root=None, seed=cfg.data_seed, size=cfg.size, count=count)
            for split, count in counts.items()}


def train_variant(cfg: FcnShapesConfig, variant: str, data: dict, transforms: tuple, run: RunDir, stage: str):
    """Train one FCN from the shared seed, then score it once on the test images: (model, history, test metrics)."""
    augment, plain = transforms
    # 2. Model: the same seed for each variant, so all of them start from the same backbone weights
    torch.manual_seed(cfg.seed)
    model = get_model(variant, num_classes=len(data["train"].classes))
    # 3. Train: cross-entropy per pixel, Adam + cosine; the best validation mean IoU's weights are kept
    history = fit(model, data["train"], val=data["val"], loss="cross_entropy", optimizer="adam", lr=cfg.lr,
                  metrics=class_metrics(data["train"].classes), epochs=1 if cfg.quick else cfg.epochs,
                  batch_size=cfg.batch_size, schedule="cosine", patience=cfg.epochs, monitor="val_mean_iou", amp=cfg.amp,
                  device=cfg.device, seed=cfg.seed, transform=augment, eval_transform=plain, run=run, stage=stage,
                  progress=cfg.progress)
    # 4. Score the held-out images once
    scores = evaluate(model, data["test"], loss="cross_entropy", metrics=class_metrics(data["test"].classes),
                      batch_size=50, transform=plain, amp=cfg.amp, prefix="test_")
    return model, history, scores


@register_lab("fcn-shapes", config=FcnShapesConfig, title="FCN-32s, -16s and -8s on generated shapes",
              unit="Semantic segmentation: FCN (convolutionalization, deconvolution, skips)",
              metric="test_mean_iou", higher_is_better=True)
def fcn_shapes(cfg: FcnShapesConfig, run: RunDir) -> LabResult:
    # 1. Data: uint8 images (N, 3, 64, 64), masks (N, 64, 64) with 0 = background, 1..3 = the shapes
    data = read_shapes(cfg)
    test, classes = data["test"], data["train"].classes
    mean, std = channel_stats(data["train"])
    plain = float_normalize(mean, std)
    moves = [random_hflip(targets="mask"), random_vflip(targets="mask"), random_rot90(targets="mask")] if cfg.flips else []
    shown = plain(test.inputs[: cfg.examples], test.targets[: cfg.examples], torch.Generator())[0]   # for the figure
    # 2-4. Each variant by the same recipe; the last one is the run's saved model
    rows, histories, predictions = [], {}, {}
    for i, variant in enumerate(cfg.variants):
        stage = "main" if i == len(cfg.variants) - 1 else variant
        model, history, scores = train_variant(cfg, variant, data, (compose(*moves, plain), plain), run, stage)
        histories[variant] = history.epochs
        predictions[variant] = predict_scores(model.eval(), shown.to(next(model.parameters()).device)).argmax(1).cpu()
        rows.append({"variant": variant, "stride": model.cfg.stride, "parameters": sum(p.numel() for p in model.parameters()),
                     **{key.removeprefix("test_"): value for key, value in scores.items() if key != "test_loss"},
                     "paper mean IU (VOC)": PAPER_MEAN_IU.get(variant, ""),
                     "train seconds": round(sum(row.get("seconds", 0.0) for row in history.epochs), 1)})
    # 5. Report: the variants side by side, in the order measured, and what painting all background scores
    figures = [run.save_figure(plot_class_predictions(test.inputs[: cfg.examples], test.targets[: cfg.examples],
                                                      predictions, classes), "predictions"),
               run.save_figure(plot_runs(histories, keys=("train_loss", "val_loss", "val_mean_iou"),
                                         title="Same recipe, three FCNs: loss and validation mean IoU"), "curves")]
    background = float((test.targets == 0).float().mean())
    metrics = {f"{row['variant'].replace('-', '_')}_{key}": row[key] for row in rows for key in ("mean_iou", "pixel_accuracy")}
    metrics.update(test_mean_iou=rows[-1]["mean_iou"], test_pixel_accuracy=rows[-1]["pixel_accuracy"],
                   all_background_accuracy=background)
    card = ModelCard(model=cfg.variants[-1], overrides={"num_classes": len(classes)}, input_shape=(3, cfg.size, cfg.size),
                     task="segmentation", classes=classes, mean=mean, std=std, dataset="shapes",
                     data_source=test.meta["source"], extra={"scored_by": "classes", "dataset_options": {
                         "seed": cfg.data_seed, "size": cfg.size, "count": len(test)}})
    return LabResult(metrics=metrics, history=history, summary=summary(model, (3, cfg.size, cfg.size)), card=card,
                     notes=_notes(cfg, rows, background), tables={"Variants on the test images": rows}, figures=figures)


def _notes(cfg: FcnShapesConfig, rows: list[dict], background: float) -> list[Note]:
    ranked = sorted(rows, key=lambda row: row["mean_iou"])
    order = f"{ranked[0]['variant']} {ranked[0]['mean_iou']:.3f}" + "".join(
        f" {'<' if round(b['mean_iou'], 3) > round(a['mean_iou'], 3) else '='} {b['variant']} {b['mean_iou']:.3f}"
        for a, b in zip(ranked, ranked[1:]))
    below = ", ".join(row["variant"] for row in rows if row["pixel_accuracy"] < background)
    grids = ", ".join(f"{row['variant']} {cfg.size // row['stride']}x{cfg.size // row['stride']}" for row in rows)
    pixels = ", ".join(f"{row['variant']} {row['pixel_accuracy']:.4f}" for row in rows)
    share, iou, size, last = f"{background:.4f}", f"{background / 4:.4f}", f"{cfg.size}x{cfg.size}", cfg.variants[-1]
    seed, n_train, n_val, n_test = cfg.data_seed, cfg.train_images, cfg.val_images, cfg.test_images
    return [Note(f"Measured order of test mean IoU: {order} (pixel accuracy: {pixels}).",
                 f"측정된 테스트 mean IoU 순서: {order} (픽셀 정확도: {pixels})."),
            Note(f"Painting every pixel background would score pixel accuracy {share} and mean IoU "
                 f"{iou} (background's IoU is its share; the three shapes' are 0)"
                 + (f"; {below} scored below that pixel accuracy." if below else "."),
                 f"모든 픽셀을 배경으로 칠하면 픽셀 정확도 {share}, mean IoU {iou}입니다 "
                 f"(배경의 IoU는 배경이 차지하는 비율이고, 세 도형의 IoU는 0)"
                 + (f"; {below}의 픽셀 정확도는 그보다 낮았습니다." if below else ".")),
            Note("The paper (PASCAL VOC 2011 val, fine-tuned from ImageNet VGG16) reports 59.4 < 62.4 < 62.7 mean IU for "
                 "32s < 16s < 8s. These nets are small and trained from scratch on generated shapes: compare the order, "
                 "not the numbers.",
                 "논문 (PASCAL VOC 2011 val, ImageNet VGG16에서 미세 조정)은 32s < 16s < 8s 순으로 mean IU "
                 "59.4 < 62.4 < 62.7을 보고합니다. 여기의 신경망은 작고, 생성한 도형으로 처음부터 학습했으니 "
                 "숫자가 아니라 순서를 비교하세요."),
            Note(f"The finest scores each variant fuses, on {size} images: {grids} (stride 32, 16, 8). "
                 "Everything finer comes from the fixed bilinear upsampling, which is why the coarse variants blur the edges.",
                 f"{size} 이미지에서 각 변형이 합치는 가장 촘촘한 점수 지도: {grids} (스트라이드 32, 16, 8). "
                 "그보다 세밀한 부분은 고정된 쌍선형 업샘플링에서 나오므로, 거친 변형일수록 경계가 흐려집니다."),
            Note(f"Same data (seed {seed}: {n_train} training, {n_val} validation, {n_test} test images), seed {cfg.seed}, "
                 f"{cfg.epochs} epochs each; each variant's weights are those of its best validation mean IoU. Mean IoU "
                 f"averages the four classes, background included (the paper's mean IU). The training history below is "
                 f"{last}'s; every variant's is in metrics.jsonl (by stage) and figures/curves.png.",
                 f"같은 데이터 (시드 {seed}: 학습 {n_train}장, 검증 {n_val}장, 테스트 {n_test}장), 시드 {cfg.seed}, "
                 f"각각 {cfg.epochs} 에포크; 각 변형의 가중치는 검증 mean IoU가 가장 좋을 때의 것입니다. Mean IoU는 "
                 f"배경을 포함한 네 클래스의 평균입니다 (논문의 mean IU). 아래 학습 기록은 {last}의 것이고, 모든 "
                 "변형의 기록은 metrics.jsonl (stage별)과 figures/curves.png에 있습니다.")]
