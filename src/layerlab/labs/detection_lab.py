"""What the `rcnn` and `sppnet` labs share: their options, and the run that trains and compares variants.

Each lab is one call of `run_detection` with the variants it teaches; this file reads the data,
proposes regions once for every variant, trains each variant by the same recipe from the same
seed, and reports mAP, per-class AP, proposal recall and test seconds per image side by side.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

import torch

from layerlab.data.tensors import TensorData
from layerlab.data.transforms import channel_stats, float_normalize
from layerlab.engine import RunDir
from layerlab.engine.card import ModelCard
from layerlab.engine.detection_metrics import COCO_IOUS, class_curve, average_precision
from layerlab.inspect import summary
from layerlab.labs.base import LabConfig, LabResult, Note, option
from layerlab.models.detector import WARPS
from layerlab.tasks.detection_runs import (DATASETS, Variant, pretraining_digits, propose_all, read_sets, recall_table,
                                           train_variant)
from layerlab.viz.detection import plot_detections, plot_pr_curves, plot_proposals, plot_spp_bins


@dataclass(frozen=True)
class DetectionConfig(LabConfig):
    dataset: str = option("mnist-detection", "mnist-detection (generated from MNIST), bccd (blood-cell photos), or your "
                          "own photos with --data-dir: voc-folder (Pascal VOC XML) or coco-folder (COCO JSON)",
                          choices=DATASETS)
    train_images: int = option(1500, "training images (mnist-detection: generated; bccd: at most its 205)")
    val_images: int = option(100, "validation images (bccd: at most its 87)")
    test_images: int = option(300, "test images, scored once at the end (bccd: at most its 72)")
    data_seed: int = option(0, "the seed of the generated canvases; --seed is the training seed")
    pretrain_digits: int = option(12000, "mnist-detection: MNIST digits the CNN first learns as a plain classifier "
                                  "(R-CNN's supervised pre-training; 0: train on regions from scratch)")
    per_image: int = option(32, "regions sampled per image per iteration, at most a quarter of them objects")
    examples: int = option(8, "test images drawn with their detections")
    warp: str = option("stretch", "R-CNN: stretch each box to the square crop (the paper), or cut the tightest square "
                       "around it first (a narrow '1' stays narrow)", choices=WARPS)
    context: int = option(2, "R-CNN: pixels of the 32-pixel crop that show each box's surroundings on every side (the "
                          "paper: 16 of 227; 0: the box alone)")
    amp: bool = option(True, "bf16 autocast and channels_last convolutions (training and detection): about 3x faster "
                       "R-CNN on a CPU with AVX-512 BF16")
    epochs: int = 5
    batch_size: int = 16
    lr: float = 1e-3               # Adam, cosine-annealed to 0


def _counts(cfg: DetectionConfig) -> dict[str, int]:
    counts = {"train": cfg.train_images, "val": cfg.val_images, "test": cfg.test_images}
    return {split: min(n, 24) for split, n in counts.items()} if cfg.quick else counts


def run_detection(cfg: DetectionConfig, run: RunDir, variants: tuple[str, ...]) -> LabResult:
    """Train and score each variant (the last one is saved), with figures and notes."""
    # 1. Data: uint8 images, a list of {"boxes", "labels"} per image
    sets = read_sets(cfg.dataset, cfg.data_dir or None, _counts(cfg), cfg.data_seed)
    classes, test = sets["train"].classes, sets["test"]
    mean, std = channel_stats(sets["train"])
    transform = float_normalize(mean, std)
    # 2. Region proposals, once for all variants
    proposed = {split: propose_all(data, cfg.dataset) for split, data in sets.items()}
    proposals = {split: boxes for split, (boxes, _) in proposed.items()}
    recall = recall_table(proposals["test"], test)
    # 3-4. Each variant: train, box regression, detect, score
    options = {"seed": cfg.seed, "lr": cfg.lr, "per_image": cfg.per_image, "epochs": 1 if cfg.quick else cfg.epochs,
               "batch_size": cfg.batch_size, "device": cfg.device, "progress": cfg.progress, "amp": cfg.amp,
               "rcnn": {"warp": cfg.warp, "context": cfg.context},
               "pretrain": pretraining_digits(cfg.data_dir or None, 500 if cfg.quick else cfg.pretrain_digits, cfg.seed)
               if cfg.dataset == "mnist-detection" and cfg.pretrain_digits > 0 else None}
    done = [train_variant(v, sets, proposals, transform, options=options, run=run, stage="main" if i == len(variants) - 1 else v)
            for i, v in enumerate(variants)]
    # 5. Report
    shown = slice(0, min(cfg.examples, len(test)))
    figures = [run.save_figure(plot_proposals(test.inputs[0], proposals["test"][0], test.targets[0]["boxes"],
                                              recall=recall["recall@0.5"]), "proposals"),
               run.save_figure(plot_detections(test.inputs[shown], done[-1].detections[shown], test.targets[shown], classes,
                                               title=f"{done[-1].method} on test images"), "detections"),
               run.save_figure(plot_pr_curves({v.method: _curves(v, test) for v in done}), "precision_recall")]
    if test.targets[0]["boxes"].numel():
        figures.append(run.save_figure(plot_spp_bins(test.inputs[0], test.targets[0]["boxes"][0].tolist(),
                                                     channels=2 * done[-1].model.cfg.width), "spp_bins"))
    rows = [_row(v, proposed["test"][1]) for v in done]
    metrics = {f"{v.method.replace('-', '_')}_{key}": v.metrics[key] for v in done for key in ("map50", "coco_ap")}
    metrics.update({f"{v.method.replace('-', '_')}_ms_per_image": 1000 * v.seconds_per_image for v in done})
    metrics.update(test_map50=done[-1].metrics["map50"], test_coco_ap=done[-1].metrics["coco_ap"],
                   proposal_recall=recall["recall@0.5"])
    overrides = {"in_channels": int(test.inputs.shape[1]), "num_classes": len(classes), **options.get(variants[-1], {})}
    card = ModelCard(model=variants[-1], overrides=overrides,
                     input_shape=tuple(test.inputs.shape[1:]), task="detection", classes=classes, mean=mean, std=std,
                     dataset=cfg.dataset, data_dir=cfg.data_dir or None, data_source=test.meta["source"],
                     extra={"proposals": cfg.dataset, "amp": cfg.amp, "scale": test.meta.get("scale", 1.0), "dataset_options": {"seed": cfg.data_seed, "count": len(test)}
                            if cfg.dataset == "mnist-detection" else {}})
    tables = {"Variants on the test images": rows,
              "Average precision per class (IoU 0.5, VOC all-point)": [
                  {"class": name, **{v.method: round(v.metrics.get(f"ap50_{name}", float("nan")), 4) for v in done}}
                  for name in classes],
              "Proposal recall on the test images": [{k: round(x, 4) for k, x in recall.items()}]}
    return LabResult(metrics=metrics, history=done[-1].history, card=card, tables=tables, figures=figures,
                     summary=summary(done[-1].model.features, tuple(test.inputs.shape[1:])),
                     notes=_notes(cfg, done, recall))


def _curves(variant: Variant, test: TensorData) -> dict:
    out = {}
    for c, name in enumerate(test.classes):
        curve = class_curve(variant.detections, test.targets, c, 0.5, "voc")
        if curve.num_truths:
            out[name] = (curve.recall, curve.precision, average_precision(curve, "voc"))
    return out


def _row(v: Variant, propose_seconds: float) -> dict:
    return {"variant": v.method, "mAP@0.5 (VOC)": round(v.metrics["map50"], 4), "COCO AP@[.5:.95]": round(v.metrics["coco_ap"], 4),
            "COCO AP@0.5": round(v.metrics["coco_ap50"], 4), "test ms / image (net)": round(1000 * v.seconds_per_image, 1),
            "proposals ms / image": round(1000 * propose_seconds, 1), "train seconds": round(v.train_seconds, 1),
            "parameters": sum(p.numel() for p in v.model.parameters())}


def _notes(cfg: DetectionConfig, done: list[Variant], recall: dict) -> list:
    notes = []
    by = {v.method: v for v in done}
    if "rcnn" in by and len(done) > 1:
        fast = done[-1]
        ratio = by["rcnn"].seconds_per_image / max(fast.seconds_per_image, 1e-9)
        gap = fast.metrics["map50"] - by["rcnn"].metrics["map50"]
        r, g = f"{ratio:.1f}", f"{gap:+.4f}"
        notes.append(Note(f"{fast.method} scored each test image {r}x faster than R-CNN (one conv pass instead of one per "
                          f"region) at mAP@0.5 {g} against R-CNN's (same proposals, seed and recipe; the paper: 24-102x).",
                          f"{fast.method}는 R-CNN보다 테스트 이미지당 {r}배 빠르고 (영역마다가 아닌 이미지당 한 번의 합성곱), "
                          f"mAP@0.5 차이는 {g}입니다 (논문: 24-102배)."))
    if "rcnn" in by:
        notes.append(_warp_note(cfg, by["rcnn"]))
    rec = f"{recall['recall@0.5']:.3f}"
    notes.append(Note(f"Proposal recall at IoU 0.5: {rec} of the test boxes; a box that no proposal finds cannot be "
                      "detected, so this bounds every variant's recall.",
                      f"IoU 0.5에서 제안 영역의 재현율: {rec}. 어떤 제안 영역도 찾지 못한 상자는 검출될 수 없습니다."))
    machine, threads, low, high = platform.machine(), torch.get_num_threads(), COCO_IOUS[0], COCO_IOUS[-1]
    notes.append(Note(f"Times are for the network on this machine ({machine}, {threads} threads), proposals excluded "
                      "(they are the same for every variant); mAP@0.5 is VOC all-point over the classes with test boxes; "
                      f"COCO AP averages the 101-point AP over IoU {low}-{high}.",
                      f"시간은 이 컴퓨터({machine}, 스레드 {threads}개)에서 신경망만 잰 값이며 제안 영역 계산은 빠졌습니다 "
                      "(모든 방식에 같음); mAP@0.5는 테스트 상자가 있는 클래스에 대한 VOC all-point 평균이고, "
                      f"COCO AP는 IoU {low}-{high}에서의 101점 AP 평균입니다."))
    return notes


def _warp_note(cfg: DetectionConfig, rcnn: Variant) -> Note:
    """How R-CNN saw its regions, and its weakest class."""
    aps = {k[len("ap50_"):]: v for k, v in rcnn.metrics.items() if k.startswith("ap50_") and v == v}   # v == v: not NaN
    name = min(aps, key=aps.get)
    ap, crop, p = f"{aps[name]:.4f}", rcnn.model.cfg.crop, cfg.context
    how, how_ko = {"stretch": ("each box stretched to the square", "상자를 정사각형으로 늘림"),
                   "square": ("the tightest square around each box", "상자를 감싸는 가장 작은 정사각형")}[cfg.warp]
    return Note(f"R-CNN saw each region as a {crop}x{crop} crop ({how}) with {p} pixels of context around the box; "
                f"its weakest class was '{name}' (AP@0.5 {ap}).",
                f"R-CNN은 각 영역을 {crop}x{crop} 크기로 보았습니다 ({how_ko}, 상자 둘레 문맥 {p}픽셀). "
                f"가장 약한 클래스는 '{name}'입니다 (AP@0.5 {ap}).")
