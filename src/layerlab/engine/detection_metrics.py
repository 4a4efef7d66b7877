"""Detection metrics: average precision per class, mAP@0.5 (Pascal VOC) and AP@[.5:.95] (COCO).

A detection is a box, a class and a score. For one class, sort every detection of the test set
by score; walk down the list; a detection is a true positive when it overlaps a true box of its
class (IoU >= threshold) that no higher-scoring detection has claimed yet, else a false positive
(a second box on an already found object is a false positive: that is why NMS matters). After
each detection, recall = TP / (true boxes) and precision = TP / (detections so far). AP is the
area under this precision-recall curve, after replacing each precision by the best precision at
any higher recall (the "envelope": a curve that only goes down).

Two ways to measure that area, and they differ:
- VOC all-point (Pascal VOC 2010 on, `method="voc"`): the exact area of the envelope, summed over
  every recall step. Matching: a detection takes the true box it overlaps most; if that box is
  already taken it is a false positive.
- COCO 101-point (`method="coco"`): the envelope read at recall 0, 0.01, ..., 1.00 and averaged
  (a recall never reached reads 0). Matching: a detection takes the best-overlapping true box that
  is still free. COCO's headline AP averages this over IoU thresholds 0.50, 0.55, ..., 0.95 and
  keeps each image's 100 best-scoring detections of each class.
This module reproduces pycocotools' COCOeval (bbox, all areas) to the last digit; tests check it.
Classes without a single true box in the set are left out of the mean (COCO does the same).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from layerlab.boxes import box_iou
from layerlab.errors import LayerlabError

COCO_IOUS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))      # 0.50, 0.55, ..., 0.95
RECALL_POINTS = np.linspace(0.0, 1.0, 101)                          # COCO's 101 recall thresholds
MAX_DETECTIONS = 100                                                # COCO keeps each image's 100 best per class

Detections = Sequence[dict[str, Tensor]]   # per image: {"boxes": (D, 4), "scores": (D,), "labels": (D,)}
Truths = Sequence[dict[str, Tensor]]       # per image: {"boxes": (G, 4), "labels": (G,)}


@dataclass
class Curve:
    """One class's ranked detections at one IoU threshold: where precision and recall went."""

    scores: np.ndarray       # (D,) sorted high to low
    true_positive: np.ndarray  # (D,) bool, in the same order
    num_truths: int

    @property
    def recall(self) -> np.ndarray:
        return np.cumsum(self.true_positive) / max(self.num_truths, 1)

    @property
    def precision(self) -> np.ndarray:
        tp = np.cumsum(self.true_positive)
        return tp / np.maximum(np.arange(1, len(tp) + 1), np.finfo(np.float64).eps)


def _check(detections: Detections, truths: Truths) -> None:
    if len(detections) != len(truths):
        raise LayerlabError(f"{len(detections)} images of detections but {len(truths)} of true boxes: give one of each per image")
    for i, det in enumerate(detections):
        missing = {"boxes", "scores", "labels"} - set(det)
        if missing:
            raise LayerlabError(f"detections of image {i} lack {', '.join(sorted(missing))}: each needs boxes, scores and labels")


def match_image(det_boxes: Tensor, det_scores: Tensor, truth_boxes: Tensor, threshold: float, rule: str) -> np.ndarray:
    """(D,) true-positive flags for one image and one class, detections taken in score order."""
    order = torch.argsort(det_scores, descending=True, stable=True)
    ious = box_iou(det_boxes[order].double(), truth_boxes.double()).numpy() if len(truth_boxes) else np.zeros((len(order), 0))
    taken = np.zeros(ious.shape[1], dtype=bool)
    hits = np.zeros(len(order), dtype=bool)
    for d in range(len(order)):
        if rule == "voc":                       # the box it overlaps most, taken or not
            if ious.shape[1] == 0:
                continue
            best = int(np.argmax(ious[d]))
            if ious[d, best] >= threshold and not taken[best]:
                hits[d] = taken[best] = True
        else:                                   # COCO: the best one still free
            free = np.where(~taken & (ious[d] >= min(threshold, 1 - 1e-10)))[0]
            if len(free):
                best = free[np.flatnonzero(ious[d, free] == ious[d, free].max())[-1]]   # COCO keeps the last of ties
                hits[d] = taken[best] = True
    flags = np.zeros(len(order), dtype=bool)
    flags[order.numpy()] = hits                 # back in the caller's order
    return flags


def class_curve(detections: Detections, truths: Truths, cls: int, threshold: float, rule: str) -> Curve:
    """The ranked detections of class `cls` over every image, each marked true or false positive."""
    scores, flags, num_truths = [], [], 0
    for det, truth in zip(detections, truths):
        truth_boxes = truth["boxes"][truth["labels"] == cls]
        mine = det["labels"] == cls
        boxes, conf = det["boxes"][mine], det["scores"][mine]
        if rule == "coco":                      # COCO: the image's 100 best detections of this class
            order = torch.argsort(conf, descending=True, stable=True)[:MAX_DETECTIONS]
            boxes, conf = boxes[order], conf[order]
        num_truths += len(truth_boxes)
        scores.append(conf.double().numpy())
        flags.append(match_image(boxes, conf, truth_boxes, threshold, rule))
    scores_all, flags_all = np.concatenate(scores or [np.zeros(0)]), np.concatenate(flags or [np.zeros(0, bool)])
    order = np.argsort(-scores_all, kind="mergesort")     # stable, as VOC's and COCO's code sort
    return Curve(scores_all[order], flags_all[order], num_truths)


def average_precision(curve: Curve, method: str = "voc") -> float:
    """The area under the curve's precision envelope: all-point ("voc") or at 101 recalls ("coco")."""
    recall, precision = curve.recall, curve.precision
    if method == "voc":
        r = np.concatenate([[0.0], recall, [1.0]])
        p = np.concatenate([[0.0], precision, [0.0]])
        p = np.maximum.accumulate(p[::-1])[::-1]           # envelope: the best precision at this recall or beyond
        steps = np.where(r[1:] != r[:-1])[0]
        return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))
    if method == "coco":
        p = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
        at = np.searchsorted(recall, RECALL_POINTS, side="left")   # first rank reaching each recall
        read = np.where(at < len(p), p[np.minimum(at, len(p) - 1)] if len(p) else 0.0, 0.0)
        return float(np.mean(read))
    raise LayerlabError(f"AP method must be 'voc' (all-point) or 'coco' (101-point), got {method!r}")


def detection_ap(detections: Detections, truths: Truths, num_classes: int, *, threshold: float = 0.5,
                 method: str = "voc") -> dict[int, float]:
    """AP of every class that has at least one true box, at one IoU threshold."""
    _check(detections, truths)
    present = set(torch.cat([t["labels"] for t in truths]).tolist()) if truths else set()
    return {c: average_precision(class_curve(detections, truths, c, threshold, method), method)
            for c in range(num_classes) if c in present}


def detection_metrics(detections: Detections, truths: Truths, classes: Sequence[str]) -> dict[str, float]:
    """mAP@0.5 (VOC all-point), COCO AP@[.5:.95] and AP@0.5 (101-point), and each class's VOC AP@0.5."""
    voc = detection_ap(detections, truths, len(classes), threshold=0.5, method="voc")
    coco = [detection_ap(detections, truths, len(classes), threshold=t, method="coco") for t in COCO_IOUS]
    mean = lambda values: float(np.mean(list(values))) if values else float("nan")   # noqa: E731
    out = {"map50": mean(voc.values()), "coco_ap": mean([ap for per in coco for ap in per.values()]),
           "coco_ap50": mean(coco[0].values())}
    out.update({f"ap50_{classes[c]}": ap for c, ap in voc.items()})
    return out


def precision_recall(detections: Detections, truths: Truths, cls: int, threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) of class `cls` at one IoU threshold, detection by detection (VOC matching)."""
    curve = class_curve(detections, truths, cls, threshold, "voc")
    return curve.recall, curve.precision
