"""Object detection by scoring region proposals (R-CNN, SPPNet, Fast R-CNN): labels, training, inference.

0. (Optional, R-CNN's recipe) pre-train the CNN as a whole-image classifier on an auxiliary set
   (layerlab.models.detector.WholeImageClassifier; the labs use MNIST digits): trained on regions
   from scratch, the net first settles on "everything is background" and leaves it slowly.
1. Label the proposals. Every proposal of a training image (plus the true boxes themselves, as
   R-CNN does) is matched to the true box it overlaps most. IoU >= 0.5: that box's class, and the
   offsets that would move the proposal onto it; below 0.5: background (class 0).
2. Train on a sample of regions. Each iteration takes `per_image` regions of every image, at most
   a quarter of them objects (most proposals are background; without the quota the net would
   learn that "background" is nearly always right). The loss is cross-entropy over background +
   classes; with `joint=True` (Fast R-CNN) also the smooth-L1 distance between predicted and
   target offsets of the object regions, so one loss trains both heads. With `amp` the forward runs
   in bf16 (the loss in float32), as everywhere in the engine.
3. Without the joint loss (R-CNN, SPPNet), the box offsets are fitted afterwards by ridge
   regression on the last hidden layer of the regions that overlap a true box by >= 0.6
   (R-CNN's recipe, on pool5 in the paper): a linear least-squares fit, solved exactly.
4. Detect: score every proposal, move it by its predicted offsets, keep a class when its
   probability is >= `score_threshold`, then NMS per class and at most 100 boxes per image.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerlab.boxes import batched_nms, box_iou, clip_boxes, decode_offsets, encode_offsets
from layerlab.data.tensors import BatchTransform, TensorData
from layerlab.engine.metrics import Accuracy, MeanLoss, Metrics
from layerlab.engine.optim import get_optimizer
from layerlab.engine.step import Step, autocast

FOREGROUND_IOU = 0.5          # a region is an object when it overlaps a true box this much
REGRESSION_IOU = 0.6          # R-CNN fits box offsets on regions at least this close to a true box


def label_regions(proposals: Tensor, truth: dict[str, Tensor]) -> dict[str, Tensor]:
    """Proposals plus the true boxes, each with a class (0 = background, c + 1 = class c), its best IoU
    with a true box, and the offsets onto that box: {"rois", "labels", "ious", "offsets"}."""
    rois = torch.cat([proposals.float(), truth["boxes"].float()])                  # (P + G, 4)
    if len(truth["boxes"]) == 0:
        zeros = torch.zeros(len(rois))
        return {"rois": rois, "labels": zeros.long(), "ious": zeros, "offsets": torch.zeros(len(rois), 4)}
    best, which = box_iou(rois, truth["boxes"].float()).max(dim=1)                   # (P + G,)
    labels = torch.where(best >= FOREGROUND_IOU, truth["labels"][which] + 1, 0)
    return {"rois": rois, "labels": labels, "ious": best, "offsets": encode_offsets(rois, truth["boxes"][which].float())}


def region_dataset(data: TensorData, proposals: Sequence[Tensor]) -> TensorData:
    """The images of `data` with their labelled regions as targets (one dict per image)."""
    return TensorData(data.inputs, [label_regions(p, t) for p, t in zip(proposals, data.targets)], data.classes,
                      data.name, dict(data.meta))


def sample_regions(targets: list[dict[str, Tensor]], per_image: int, g: torch.Generator | None,
                   fg_fraction: float = 0.25) -> tuple[Tensor, Tensor, Tensor]:
    """rois (R, 5) = image index + box, labels (R,), offsets (R, 4): up to `per_image` regions per image,
    at most `fg_fraction` of them objects, drawn with `g` (None: every region, in order)."""
    rois, labels, offsets = [], [], []
    for b, t in enumerate(targets):
        rows = torch.arange(len(t["labels"]))
        if g is not None:
            fg, bg = rows[t["labels"] > 0], rows[t["labels"] == 0]
            fg = fg[torch.randperm(len(fg), generator=g)[: int(per_image * fg_fraction)]]
            bg = bg[torch.randperm(len(bg), generator=g)[: per_image - len(fg)]]
            rows = torch.cat([fg, bg])
        boxes = t["rois"][rows]
        rois.append(torch.cat([torch.full((len(rows), 1), float(b), device=boxes.device), boxes], 1))
        labels.append(t["labels"][rows])
        offsets.append(t["offsets"][rows])
    return torch.cat(rois), torch.cat(labels), torch.cat(offsets)


class RegionTraining(Step):
    """One iteration: sample regions of each image, score them, cross-entropy (+ smooth-L1 on the
    offsets of object regions when `joint`), backward, Adam step. Region accuracy is reported."""

    def __init__(self, model: nn.Module, *, lr: float = 1e-3, per_image: int = 32, joint: bool = False,
                 box_weight: float = 1.0, seed: int = 0, weight_decay: float = 0.0, amp: bool = False) -> None:
        self.model = model
        self.models = {"model": model}
        self.optimizers = {"optimizer": get_optimizer("adam", model, lr, weight_decay=weight_decay)}
        self.generators = {"regions": torch.Generator().manual_seed(seed)}
        self.per_image, self.joint, self.box_weight, self.amp = per_image, joint, box_weight, amp

    def _loss(self, images: Tensor, targets: list[dict[str, Tensor]], g: torch.Generator | None) -> tuple[Tensor, Tensor, Tensor]:
        rois, labels, offsets = sample_regions(targets, self.per_image, g)
        with autocast(images.device, self.amp):                                       # optional bf16 forward
            scores, deltas = self.model(images, rois.to(images.device))               # (R, K + 1), (R, 4)
        scores, deltas = scores.float(), deltas.float()
        loss = F.cross_entropy(scores, labels)                                        # object or background, and which
        objects = labels > 0
        if self.joint and bool(objects.any()):                                        # Fast R-CNN: one loss, both heads
            loss = loss + self.box_weight * F.smooth_l1_loss(deltas[objects], offsets[objects])
        return loss, scores, labels

    def train(self, batch: tuple[Tensor, list[dict[str, Tensor]]]) -> dict[str, Any]:
        images, targets = batch
        loss, scores, labels = self._loss(images, targets, self.generators["regions"])
        optimizer = self.optimizers["optimizer"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss.detach(), "count": len(labels), "outputs": scores.detach(), "targets": labels}

    def evaluate(self, batch: tuple[Tensor, list[dict[str, Tensor]]]) -> dict[str, Any]:
        images, targets = batch
        loss, scores, labels = self._loss(images, targets, torch.Generator().manual_seed(0))   # the same regions each epoch
        return {"loss": loss, "count": len(labels), "outputs": scores, "targets": labels}

    def metrics(self) -> Metrics:
        return Metrics({"loss": MeanLoss(), "region_accuracy": Accuracy()})


@torch.no_grad()
def fit_box_regressor(model: nn.Module, regions: TensorData, transform: BatchTransform, *, ridge: float = 10.0,
                      batch_size: int = 16, amp: bool = False) -> int:
    """Set `model.box` by ridge regression from fc7 to the offsets of regions with IoU >= 0.6; returns how many."""
    model.eval()
    device = next(model.parameters()).device
    features, targets = [], []
    for start in range(0, len(regions), batch_size):
        images, labelled = regions[start : start + batch_size]
        images, _ = transform(images.to(device), None, torch.Generator())
        close = [{k: v[t["ious"] >= REGRESSION_IOU] for k, v in t.items()} for t in labelled]
        rois, _, offsets = sample_regions(close, 0, None)
        if len(rois):
            with autocast(device, amp):
                features.append(model.head(model.region_vectors(images, rois.to(device))).double().cpu())
            targets.append(offsets.double())
    x, y = torch.cat(features), torch.cat(targets)                                    # (N, 256), (N, 4)
    x1 = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)                     # a column of ones: the bias
    penalty = ridge * torch.eye(x1.shape[1], dtype=x.dtype)
    penalty[-1, -1] = 0                                                               # the bias is not shrunk
    w = torch.linalg.solve(x1.T @ x1 + penalty, x1.T @ y)                             # (257, 4)
    model.box.weight.copy_(w[:-1].T.float())
    model.box.bias.copy_(w[-1].float())
    return len(x)


@torch.no_grad()
def detect(model: nn.Module, images: Tensor, proposals: Sequence[Tensor], *, score_threshold: float = 0.05,
           nms_iou: float = 0.3, max_per_image: int = 100, amp: bool = False) -> list[dict[str, Tensor]]:
    """Detections {"boxes", "scores", "labels" (0-based classes)} per image, for normalised images (B, C, H, W)."""
    model.eval()
    height, width = images.shape[-2:]
    rois = torch.cat([torch.cat([torch.full((len(p), 1), float(b)), p.float()], 1) for b, p in enumerate(proposals)])
    with autocast(images.device, amp):                                                  # optional bf16 forward
        scores, deltas = model(images, rois.to(images.device))
    probs = scores.float().softmax(dim=1)[:, 1:].cpu()                                 # (R, K) classes, background dropped
    boxes = clip_boxes(decode_offsets(rois[:, 1:], deltas.float().cpu()), height, width)
    out = []
    for b in range(len(proposals)):
        mine = rois[:, 0] == b
        region, cls = (probs[mine] >= score_threshold).nonzero(as_tuple=True)
        found_boxes, found_scores = boxes[mine][region], probs[mine][region, cls]
        keep = batched_nms(found_boxes, found_scores, cls, nms_iou)[:max_per_image]
        out.append({"boxes": found_boxes[keep], "scores": found_scores[keep], "labels": cls[keep]})
    return out


def detect_all(model: nn.Module, data: TensorData, proposals: Sequence[Tensor], transform: BatchTransform, *,
               batch_size: int = 8, **options: Any) -> tuple[list[dict[str, Tensor]], float]:
    """Detections for every image of `data`, and the seconds per image that the model took (proposals not included)."""
    device = next(model.parameters()).device
    found, seconds = [], 0.0
    for start in range(0, len(data), batch_size):
        images, _ = transform(data.inputs[start : start + batch_size].to(device), None, torch.Generator())
        began = time.perf_counter()
        found += detect(model, images, proposals[start : start + batch_size], **options)
        seconds += time.perf_counter() - began
    return found, seconds / max(len(data), 1)
