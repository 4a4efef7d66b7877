"""Detection metrics against hand-worked cases and against pycocotools' COCOeval."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch

from layerlab.boxes import batched_nms, box_iou, decode_offsets, encode_offsets, nms, nms_steps
from layerlab.engine.detection_metrics import average_precision, class_curve, detection_ap, detection_metrics
from layerlab.errors import LayerlabError

from pycocotools.coco import COCO          # the COCO AP reference (the test extra)
from pycocotools.cocoeval import COCOeval


def coco_reference(detections, truths, num_classes):
    """pycocotools' (AP@[.5:.95], AP@0.5) for our per-image dicts."""
    images = [{"id": i} for i in range(len(truths))]
    anns, k = [], 1
    for i, t in enumerate(truths):
        for box, label in zip(t["boxes"].tolist(), t["labels"].tolist()):
            w, h = box[2] - box[0], box[3] - box[1]
            anns.append({"id": k, "image_id": i, "category_id": label, "bbox": [box[0], box[1], w, h], "area": w * h, "iscrowd": 0})
            k += 1
    gt = COCO()
    gt.dataset = {"images": images, "annotations": anns, "categories": [{"id": c} for c in range(num_classes)]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        results = [{"image_id": i, "category_id": int(lab), "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "score": float(s)}
                   for i, d in enumerate(detections) for b, s, lab in zip(d["boxes"].tolist(), d["scores"].tolist(), d["labels"].tolist())]
        dt = gt.loadRes(results) if results else COCO()
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate(); ev.accumulate(); ev.summarize()
    return ev.stats[0], ev.stats[1]


def ours(detections, truths, num_classes):
    per_t = [detection_ap(detections, truths, num_classes, threshold=t, method="coco")
             for t in (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)]
    return np.mean([v for p in per_t for v in p.values()]), np.mean(list(per_t[0].values()))


def truth(boxes, labels):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labels)}


def det(boxes, scores, labels):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), "scores": torch.tensor(scores, dtype=torch.float32),
            "labels": torch.tensor(labels, dtype=torch.long)}


TRUTHS = [truth([[10, 10, 50, 50], [60, 60, 100, 90]], [0, 1]), truth([[5, 5, 40, 30]], [0])]


def test_iou_of_hand_worked_boxes():
    a = torch.tensor([[0.0, 0, 10, 10]])
    b = torch.tensor([[0.0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 5, 5]])
    torch.testing.assert_close(box_iou(a, b), torch.tensor([[1.0, 50 / 150, 0.0, 25 / 100]]))


def test_nms_removes_the_overlapping_lower_score_and_keeps_the_rest():
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 1, 10, 11]])
    scores = torch.tensor([0.9, 0.95, 0.5, 0.3])
    kept, steps = nms_steps(boxes, scores, 0.5)
    assert kept.tolist() == [1, 2]
    assert steps == [(1, [0, 3]), (2, [])]
    assert nms(boxes, scores, 0.9).tolist() == [1, 0, 2, 3]          # IoU 0.82 < 0.9: all kept
    # different classes never suppress each other
    assert sorted(batched_nms(boxes, scores, torch.tensor([0, 1, 0, 0]), 0.5).tolist()) == [0, 1, 2]


def test_offsets_round_trip_and_zero_for_the_same_box():
    proposals = torch.tensor([[10.0, 20, 50, 40], [0, 0, 8, 16]])
    targets = torch.tensor([[12.0, 18, 60, 44], [1, 2, 7, 15]])
    torch.testing.assert_close(decode_offsets(proposals, encode_offsets(proposals, targets)), targets)
    assert encode_offsets(proposals, proposals).abs().max() == 0


def test_perfect_detections_score_one_everywhere():
    dets = [det(t["boxes"].tolist(), [0.9] * len(t["labels"]), t["labels"].tolist()) for t in TRUTHS]
    metrics = detection_metrics(dets, TRUTHS, ("a", "b"))
    assert metrics["map50"] == metrics["coco_ap"] == metrics["coco_ap50"] == 1.0
    assert coco_reference(dets, TRUTHS, 2) == pytest.approx((1.0, 1.0))


def test_a_duplicate_detection_is_a_false_positive():
    # class 1 has one true box; a second copy of the right box scores higher than nothing, lower than the first
    dets = [det([[10, 10, 50, 50], [60, 60, 100, 90], [61, 60, 100, 90]], [0.9, 0.8, 0.7], [0, 1, 1]),
            det([[5, 5, 40, 30], [100, 100, 120, 120]], [0.6, 0.95], [0, 0])]
    curve = class_curve(dets, TRUTHS, 1, 0.5, "voc")
    assert curve.true_positive.tolist() == [True, False]
    # class 0: a false positive (0.95) ranked first: precision 0, 1/2, 2/3 at recall 0, 1/2, 1
    assert average_precision(class_curve(dets, TRUTHS, 0, 0.5, "voc"), "voc") == pytest.approx(0.5 * 2 / 3 + 0.5 * 2 / 3)
    assert ours(dets, TRUTHS, 2) == pytest.approx(coco_reference(dets, TRUTHS, 2), abs=1e-12)


def test_voc_all_point_and_coco_101_point_differ_as_they_should():
    # one class, two true boxes: hit (0.9), miss (0.8), hit (0.7). precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
    truths = [truth([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 0])]
    dets = [det([[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 30]], [0.9, 0.8, 0.7], [0, 0, 0])]
    voc = detection_ap(dets, truths, 1, method="voc")[0]
    coco = detection_ap(dets, truths, 1, method="coco")[0]
    assert voc == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)                 # the exact area: 0.8333
    assert coco == pytest.approx((51 * 1 + 50 * 2 / 3) / 101)          # recall 0..0.50 read 1, 0.51..1 read 2/3: 0.8350
    assert coco == pytest.approx(coco_reference(dets, truths, 1)[1], abs=1e-12)
    # a recall never reached: VOC counts the area to it, COCO reads 0 beyond it; both give 0.5 here
    half = [det([[0, 0, 10, 10]], [0.9], [0])]
    assert detection_ap(half, truths, 1, method="voc")[0] == pytest.approx(0.5)
    assert detection_ap(half, truths, 1, method="coco")[0] == pytest.approx(51 / 101)


def test_voc_and_coco_matching_rules_differ():
    # the first detection takes truth A; the second overlaps A most (taken) but B enough: VOC says FP, COCO says TP
    truths = [truth([[0, 0, 10, 10], [4, 0, 14, 10]], [0, 0])]
    dets = [det([[0, 0, 10, 10], [1, 0, 11, 10]], [0.9, 0.8], [0, 0])]
    assert class_curve(dets, truths, 0, 0.5, "voc").true_positive.tolist() == [True, False]
    assert class_curve(dets, truths, 0, 0.5, "coco").true_positive.tolist() == [True, True]


@pytest.mark.parametrize("seed", range(6))
def test_random_detections_match_pycocotools(seed):
    g = torch.Generator().manual_seed(seed)
    num_classes, truths, dets = 3, [], []
    for _ in range(8):
        n = int(torch.randint(0, 5, (1,), generator=g))
        xy = torch.rand(n, 2, generator=g) * 80
        wh = 10 + torch.rand(n, 2, generator=g) * 30
        boxes = torch.cat([xy, xy + wh], 1)
        labels = torch.randint(0, num_classes, (n,), generator=g)
        truths.append({"boxes": boxes, "labels": labels})
        # noisy copies of some truths, plus random boxes
        keep = torch.rand(n, generator=g) < 0.8
        noisy = boxes[keep] + torch.randn(int(keep.sum()), 4, generator=g) * 3
        m = int(torch.randint(0, 4, (1,), generator=g))
        xy2 = torch.rand(m, 2, generator=g) * 80
        extra = torch.cat([xy2, xy2 + 10 + torch.rand(m, 2, generator=g) * 30], 1)
        flip = torch.rand(int(keep.sum()), generator=g) < 0.15           # some wrong classes
        wrong = torch.where(flip, (labels[keep] + 1) % num_classes, labels[keep])
        dets.append({"boxes": torch.cat([noisy, extra]), "scores": torch.rand(len(noisy) + m, generator=g),
                     "labels": torch.cat([wrong, torch.randint(0, num_classes, (m,), generator=g)])})
    ref = coco_reference(dets, truths, num_classes)
    assert 0.05 < ref[0] < 0.95                                          # neither trivial end
    assert ours(dets, truths, num_classes) == pytest.approx(ref, abs=1e-12)
    metrics = detection_metrics(dets, truths, ("a", "b", "c"))
    assert metrics["coco_ap"] == pytest.approx(ref[0], abs=1e-12) and metrics["coco_ap50"] == pytest.approx(ref[1], abs=1e-12)


def test_mismatched_inputs_are_one_line_errors():
    with pytest.raises(LayerlabError, match="2 images of detections but 1"):
        detection_ap([det([], [], []), det([], [], [])], TRUTHS[:1], 2)
    with pytest.raises(LayerlabError, match="method must be"):
        average_precision(class_curve([det([], [], [])], TRUTHS[:1], 0, 0.5, "voc"), "11-point")
