"""The COCO JSON reader (`coco-folder`) on tiny folders the tests write: boxes, class order, and one-line errors."""

from __future__ import annotations

import json

import pytest
import torch

from layerlab.data import get_dataset
from layerlab.errors import LayerlabError
from tests.helpers.fake_files import write_fake_coco, write_fake_voc

CATEGORIES = {7: "dog", 3: "cat"}            # ids out of order and with gaps, as COCO's own 1..90


def test_coco_boxes_are_continuous_xywh_and_classes_follow_the_category_ids(tmp_path):
    write_fake_coco(tmp_path, "train", {"a.jpg": [(3, 0, 0, 10, 20), (7, 30, 5, 34, 43)], "b.jpg": []},
                    categories=CATEGORIES)
    data = get_dataset("coco-folder", split="train", root=tmp_path, scale=0.5)
    assert data.classes == ("cat", "dog") and data.inputs.shape == (2, 3, 24, 32)
    # [x, y, w, h] = [30, 5, 34, 43] is x 30..64, y 5..48 (no "- 1" as in VOC); then halved
    torch.testing.assert_close(data.targets[0]["boxes"], torch.tensor([[0.0, 0, 5, 10], [15, 2.5, 32, 24]]))
    assert data.targets[0]["labels"].tolist() == [0, 1] and data.meta["files"] == ["a.jpg", "b.jpg"]
    assert data.targets[1]["boxes"].shape == (0, 4) and data.targets[1]["labels"].numel() == 0   # an image with no objects
    full = get_dataset("coco-folder", split="train", root=tmp_path)
    assert full.inputs[0, 0, 0:20, 0:10].float().mean() > 180 and full.inputs[0, 0, 25:, 12:28].float().mean() < 60


def test_the_same_boxes_read_from_voc_and_from_coco_agree(tmp_path):
    # VOC (1, 1, 10, 20) is 1-based inclusive, COCO [0, 0, 10, 20] continuous: the same pixels
    write_fake_voc(tmp_path / "voc", {"a": [("cat", 1, 1, 10, 20), ("dog", 31, 6, 64, 48)]})
    write_fake_coco(tmp_path / "coco", "train", {"a.jpg": [(3, 0, 0, 10, 20), (7, 30, 5, 34, 43)]}, categories=CATEGORIES)
    voc = get_dataset("voc-folder", split="train", root=tmp_path / "voc")
    coco = get_dataset("coco-folder", split="train", root=tmp_path / "coco")
    torch.testing.assert_close(voc.targets[0]["boxes"], coco.targets[0]["boxes"])
    assert voc.classes == coco.classes and torch.equal(voc.targets[0]["labels"], coco.targets[0]["labels"])


def test_crowd_regions_are_dropped_with_a_warning_naming_the_file(tmp_path):
    crowd = {"id": 99, "image_id": 1, "category_id": 3, "bbox": [1, 1, 30, 30], "iscrowd": 1}
    write_fake_coco(tmp_path, "train", {"a.jpg": [(3, 2, 2, 8, 8)]}, categories=CATEGORIES, extra=[crowd])
    with pytest.warns(UserWarning, match=r"instances_train.json: dropped 1 crowd regions"):
        data = get_dataset("coco-folder", split="train", root=tmp_path)
    assert len(data.targets[0]["boxes"]) == 1


@pytest.mark.parametrize("bbox, message", [
    ([10, 5, 0, 9], r"annotation 99 of a.jpg: bbox \[10, 5, 0, 9\] has w <= 0 or h <= 0"),
    ([10, 5, 4, -2], r"has w <= 0 or h <= 0"),
    ([40, 5, 30, 9], r"annotation 99 of a.jpg: bbox \[40, 5, 30, 9\] reaches outside its 64x48 image"),
    ([-3, 5, 7, 9], r"reaches outside"),
    ([1, 2, 3], r"'bbox' must be four numbers"),
])
def test_bad_boxes_are_one_line_errors_naming_the_file(tmp_path, bbox, message):
    bad = {"id": 99, "image_id": 1, "category_id": 7, "bbox": bbox}
    write_fake_coco(tmp_path, "train", {"a.jpg": []}, categories=CATEGORIES, extra=[bad])
    with pytest.raises(LayerlabError, match=message) as err:
        get_dataset("coco-folder", split="train", root=tmp_path)
    assert "\n" not in str(err.value) and "instances_train.json" in str(err.value)


def test_half_a_pixel_past_the_edge_is_clipped_not_refused(tmp_path):
    write_fake_coco(tmp_path, "train", {"a.jpg": [(3, 50.0, 40.0, 14.4, 8.3)]}, categories=CATEGORIES)
    data = get_dataset("coco-folder", split="train", root=tmp_path)
    torch.testing.assert_close(data.targets[0]["boxes"], torch.tensor([[50.0, 40.0, 64.0, 48.0]]))


def test_missing_files_and_unknown_references_are_one_line_errors(tmp_path):
    write_fake_coco(tmp_path, "train", {"a.jpg": [(3, 1, 1, 5, 5)]}, categories=CATEGORIES)
    with pytest.raises(LayerlabError, match=r"instances_val.json: instances file not found"):
        get_dataset("coco-folder", split="val", root=tmp_path)
    (tmp_path / "train" / "a.jpg").unlink()
    with pytest.raises(LayerlabError, match=r"a.jpg: image file not found \(.*instances_train.json names it\)"):
        get_dataset("coco-folder", split="train", root=tmp_path)
    for key, value, message in (("image_id", 5, r"names image_id 5, which is not in 'images'"),
                                ("category_id", 1, r"names category_id 1, which is not in 'categories'")):
        note = {"id": 4, "image_id": 1, "category_id": 3, "bbox": [1, 1, 2, 2], key: value}
        write_fake_coco(tmp_path / key, "train", {"a.jpg": []}, categories=CATEGORIES, extra=[note])
        with pytest.raises(LayerlabError, match=message):
            get_dataset("coco-folder", split="train", root=tmp_path / key)
    (tmp_path / "annotations" / "instances_train.json").write_text('{"images": [')
    with pytest.raises(LayerlabError, match=r"instances_train.json: not readable JSON"):
        get_dataset("coco-folder", split="train", root=tmp_path)
    (tmp_path / "annotations" / "instances_train.json").write_text(json.dumps({"images": []}))
    with pytest.raises(LayerlabError, match=r"expected one JSON object with lists 'images', 'annotations'"):
        get_dataset("coco-folder", split="train", root=tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(LayerlabError, match=r"coco-folder: pass --data-dir DIR holding annotations/instances_<split>.json"):
        get_dataset("coco-folder", split="train", root=tmp_path / "empty")
