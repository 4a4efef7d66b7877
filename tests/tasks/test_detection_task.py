"""Detection training pieces: labels by IoU, the foreground quota, the ridge box regressor, detect + NMS."""

from __future__ import annotations

import pytest
import torch

from layerlab.boxes import decode_offsets
from layerlab.data.tensors import TensorData
from layerlab.data.transforms import float_normalize
from layerlab.models import get_model
from layerlab.tasks.detection import RegionTraining, detect, fit_box_regressor, label_regions, sample_regions

TRUTH = {"boxes": torch.tensor([[10.0, 10, 30, 40], [60, 60, 90, 80]]), "labels": torch.tensor([3, 7])}


def test_regions_are_labelled_by_their_best_iou_and_the_truths_are_added():
    proposals = torch.tensor([[10.0, 10, 30, 40], [12, 10, 32, 40], [0, 0, 5, 5], [60, 60, 75, 80]])
    labelled = label_regions(proposals, TRUTH)
    assert len(labelled["rois"]) == 6                                    # 4 proposals + 2 true boxes
    # IoU 1, 18/22 = 0.82, 0, 0.5 exactly (half of the second box): the last counts as an object
    assert labelled["labels"].tolist() == [4, 4, 0, 8, 4, 8]
    torch.testing.assert_close(decode_offsets(labelled["rois"][:2], labelled["offsets"][:2]), TRUTH["boxes"][[0, 0]])
    empty = label_regions(proposals, {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)})
    assert empty["labels"].tolist() == [0, 0, 0, 0]


def test_sampling_keeps_at_most_a_quarter_objects_and_names_each_image():
    labels = torch.tensor([1] * 20 + [0] * 100)
    target = {"rois": torch.rand(120, 4), "labels": labels, "offsets": torch.zeros(120, 4), "ious": torch.rand(120)}
    rois, sampled, _ = sample_regions([target, target], 32, torch.Generator().manual_seed(0))
    assert len(rois) == 64 and rois[:32, 0].eq(0).all() and rois[32:, 0].eq(1).all()
    assert int((sampled[:32] > 0).sum()) == 8                            # 32 / 4
    everything = sample_regions([target], 32, None)[1]
    assert torch.equal(everything, labels)


def test_ridge_regression_recovers_a_linear_map_from_fc7_exactly():
    torch.manual_seed(0)
    model = get_model("sppnet")
    images = torch.randint(0, 255, (3, 1, 128, 128), dtype=torch.uint8)
    g = torch.Generator().manual_seed(1)
    targets = []
    for _ in range(3):
        xy = torch.rand(40, 2, generator=g) * 80
        rois = torch.cat([xy, xy + 16 + torch.rand(40, 2, generator=g) * 30], 1)
        targets.append({"rois": rois, "labels": torch.ones(40, dtype=torch.long), "ious": torch.ones(40), "offsets": torch.zeros(40, 4)})
    data = TensorData(images, targets, tuple("0123456789"), "fake")
    transform = float_normalize((0.1,), (0.3,))
    truth_w = torch.randn(4, 256, generator=g) * 0.1
    with torch.no_grad():                                                # offsets that ARE a linear function of fc7
        for t, image in zip(targets, images):
            x, _ = transform(image[None], None, torch.Generator())
            rois = torch.cat([torch.zeros(40, 1), t["rois"]], 1)
            t["offsets"] = model.head(model.region_vectors(x, rois)) @ truth_w.T + torch.tensor([0.1, -0.2, 0.3, 0.0])
    assert fit_box_regressor(model, data, transform, ridge=1e-6) == 120
    with torch.no_grad():                                                # 120 rows < 257 unknowns: the fit is exact
        for t, image in zip(targets, images):
            x, _ = transform(image[None], None, torch.Generator())
            fc7 = model.head(model.region_vectors(x, torch.cat([torch.zeros(40, 1), t["rois"]], 1)))
            torch.testing.assert_close(model.box(fc7), t["offsets"], atol=2e-3, rtol=0)
    # only the regions close to a true box (IoU >= 0.6) are fitted
    targets[0]["ious"][:10] = 0.5
    assert fit_box_regressor(model, data, transform) == 110


def test_training_steps_lower_the_loss_and_the_joint_loss_moves_the_box_head():
    torch.manual_seed(0)
    images = torch.zeros(2, 1, 128, 128)
    images[:, :, 10:40, 10:30] = 3.0
    targets = [label_regions(torch.tensor([[10.0, 10, 30, 40], [50, 50, 90, 90], [0, 0, 20, 20]]), TRUTH)] * 2
    for joint in (False, True):
        model = get_model("fast-rcnn" if joint else "sppnet")
        before = model.box.weight.clone()
        step = RegionTraining(model, lr=1e-3, per_image=8, joint=joint)
        first = float(step.train((images, targets))["loss"])
        for _ in range(15):
            last = float(step.train((images, targets))["loss"])
        assert last < first / 2
        assert (not torch.equal(before, model.box.weight)) == joint       # only the joint loss trains the box head


def test_detect_returns_at_most_one_box_per_object_and_class_after_nms():
    torch.manual_seed(0)
    model = get_model("sppnet")
    with torch.no_grad():                                                # every region: class "3" with certainty
        model.scores.weight.zero_()
        model.scores.bias.copy_(torch.tensor([-10.0] + [0.0] * 3 + [10.0] + [0.0] * 6))
        model.box.weight.zero_()
        model.box.bias.zero_()
    proposals = torch.tensor([[10.0, 10, 30, 40], [11, 10, 31, 40], [70, 70, 100, 100]])
    found = detect(model, torch.zeros(1, 1, 128, 128), [proposals])[0]
    assert found["labels"].tolist() == [3, 3] and found["boxes"].tolist() == [[10.0, 10, 30, 40], [70, 70, 100, 100]]
    assert found["scores"].min() > 0.99
