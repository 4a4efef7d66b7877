"""Box arithmetic for object detection: area, IoU, non-maximum suppression, box offsets.

Boxes are (..., 4) float tensors x1, y1, x2, y2 in pixels, corners on a continuous plane: a box
from x1 = 10 to x2 = 20 is 10 pixels wide (COCO's convention; Pascal VOC's devkit adds 1 to
every width and height because its corners are pixel indices, which changes small boxes' IoU a
little). Data readers, the region proposer, the detector and the metrics all use these functions,
so there is one definition of "overlap" in the whole library.

What to notice:
- IoU = area(A ∩ B) / area(A ∪ B): 1 for the same box, 0 for disjoint ones; a box shifted by a
  third of its width keeps IoU 0.5, the usual "found it" line.
- NMS keeps the highest-scoring box, removes every box that overlaps it by more than the
  threshold, and repeats with what is left: duplicates of one object collapse to one detection.
- Offsets (R-CNN's box regression targets) say how to move and resize a proposal P into the true
  box G: dx = (Gx - Px) / Pw, dy = (Gy - Py) / Ph (centres), dw = log(Gw / Pw), dh = log(Gh / Ph);
  they do not depend on where the proposal is or how big it is, which is what makes them learnable.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

# Fast R-CNN divides the offsets by these so the four targets have similar spread
OFFSET_SCALE = (10.0, 10.0, 5.0, 5.0)
MAX_LOG_SCALE = math.log(1000.0 / 16)   # torchvision's clamp: a predicted log-size change no larger than this


def box_area(boxes: Tensor) -> Tensor:
    """(...,) width x height, 0 for a box whose x2 < x1 or y2 < y1."""
    return (boxes[..., 2] - boxes[..., 0]).clamp_min(0) * (boxes[..., 3] - boxes[..., 1]).clamp_min(0)


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """(N, M) intersection over union of every box of `a` (N, 4) with every box of `b` (M, 4)."""
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])            # (N, M, 2) corner of the overlap
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])        # (N, M, 2)
    overlap = (bottom_right - top_left).clamp_min(0).prod(-1)           # (N, M) area of A ∩ B
    union = box_area(a)[:, None] + box_area(b)[None, :] - overlap       # area of A ∪ B
    return torch.where(union > 0, overlap / union.clamp_min(1e-12), torch.zeros_like(overlap))


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float, limit: int | None = None) -> Tensor:
    """Indices of the boxes kept by greedy non-maximum suppression, highest score first (at most `limit`).

    A box is removed when it overlaps an already kept, higher-scoring box by IoU > iou_threshold.
    """
    return _greedy(boxes, scores, iou_threshold, limit, record=False)[0]


def nms_steps(boxes: Tensor, scores: Tensor, iou_threshold: float) -> tuple[Tensor, list[tuple[int, list[int]]]]:
    """NMS with its working: (kept indices, [(kept box, the boxes it removed), ...] in order)."""
    return _greedy(boxes, scores, iou_threshold, None, record=True)


def _greedy(boxes: Tensor, scores: Tensor, iou_threshold: float, limit: int | None,
            record: bool) -> tuple[Tensor, list[tuple[int, list[int]]]]:
    # numpy, one kept box at a time against the boxes still alive (a list that shrinks fast): only
    # the kept boxes' rows of the IoU table are ever computed, and numpy's small-array operations
    # cost ~1 µs where torch's cost ~10 (NMS runs on thousands of proposals per image)
    alive = torch.argsort(scores, descending=True, stable=True).numpy()
    x1, y1, x2, y2 = boxes.double().numpy().T
    area = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    kept, steps = [], []
    while len(alive) and (limit is None or len(kept) < limit):
        i, rest = alive[0], alive[1:]
        kept.append(int(i))
        overlap = (np.maximum(np.minimum(x2[rest], x2[i]) - np.maximum(x1[rest], x1[i]), 0)
                   * np.maximum(np.minimum(y2[rest], y2[i]) - np.maximum(y1[rest], y1[i]), 0))
        over = overlap > iou_threshold * (area[rest] + area[i] - overlap)    # IoU > threshold, never dividing by 0
        if record:
            steps.append((int(i), sorted(rest[over].tolist())))
        alive = rest[~over]
    return torch.tensor(kept, dtype=torch.long), steps


def batched_nms(boxes: Tensor, scores: Tensor, labels: Tensor, iou_threshold: float) -> Tensor:
    """NMS within each class only (a "3" never suppresses an "8"), indices sorted by score."""
    if len(boxes) == 0:
        return torch.zeros(0, dtype=torch.long)
    # shift each class's boxes far from the others' so that boxes of different classes never overlap
    shift = labels.to(boxes.dtype)[:, None] * (boxes.max() + 1)
    keep = nms(boxes + shift, scores, iou_threshold)
    return keep[torch.argsort(scores[keep], descending=True, stable=True)]


def encode_offsets(proposals: Tensor, targets: Tensor) -> Tensor:
    """(R, 4) offsets (dx, dy, dw, dh), scaled by OFFSET_SCALE, that turn each proposal into its target box."""
    pw, ph = proposals[:, 2] - proposals[:, 0], proposals[:, 3] - proposals[:, 1]
    px, py = proposals[:, 0] + pw / 2, proposals[:, 1] + ph / 2
    gw, gh = targets[:, 2] - targets[:, 0], targets[:, 3] - targets[:, 1]
    gx, gy = targets[:, 0] + gw / 2, targets[:, 1] + gh / 2
    sx, sy, sw, sh = OFFSET_SCALE
    return torch.stack([sx * (gx - px) / pw, sy * (gy - py) / ph, sw * torch.log(gw / pw), sh * torch.log(gh / ph)], dim=1)


def decode_offsets(proposals: Tensor, offsets: Tensor) -> Tensor:
    """The boxes (R, 4) that `offsets` (R, 4) make of `proposals` (R, 4): encode_offsets undone."""
    pw, ph = proposals[:, 2] - proposals[:, 0], proposals[:, 3] - proposals[:, 1]
    px, py = proposals[:, 0] + pw / 2, proposals[:, 1] + ph / 2
    sx, sy, sw, sh = OFFSET_SCALE
    x, y = px + offsets[:, 0] / sx * pw, py + offsets[:, 1] / sy * ph
    w = pw * torch.exp((offsets[:, 2] / sw).clamp(max=MAX_LOG_SCALE))
    h = ph * torch.exp((offsets[:, 3] / sh).clamp(max=MAX_LOG_SCALE))
    return torch.stack([x - w / 2, y - h / 2, x + w / 2, y + h / 2], dim=1)


def clip_boxes(boxes: Tensor, height: int, width: int) -> Tensor:
    """Boxes cut to the image: 0 <= x <= width, 0 <= y <= height."""
    limit = boxes.new_tensor([width, height, width, height])
    return torch.minimum(boxes.clamp_min(0), limit)
