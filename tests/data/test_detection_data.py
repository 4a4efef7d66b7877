"""Detection data: the Pascal VOC reader on tiny folders it writes, BCCD's real counts, mnist-detection."""

from __future__ import annotations

import warnings

import pytest
import torch

from layerlab.data import BatchLoader, get_dataset
from layerlab.data.detection import read_voc_xml
from layerlab.data.mnist_detection import tight_box
from layerlab.data.transforms import random_hflip
from layerlab.errors import LayerlabError
from tests.helpers.fake_files import write_fake_mnist, write_fake_voc


def test_voc_boxes_become_continuous_and_scale_with_the_image(tmp_path):
    write_fake_voc(tmp_path, {"a": [("cat", 1, 1, 10, 20), ("dog", 30, 5, 64, 48)], "b": [("dog", 2, 3, 4, 5)]},
                   splits={"train": ["a"], "test": ["b"]})
    data = get_dataset("voc-folder", split="train", root=tmp_path, scale=0.5)
    assert data.classes == ("cat", "dog") and data.inputs.shape == (1, 3, 24, 32)
    # 1-based inclusive (1, 1, 10, 20) is x 0..10, y 0..20 continuous; then halved
    torch.testing.assert_close(data.targets[0]["boxes"], torch.tensor([[0.0, 0, 5, 10], [14.5, 2, 32, 24]]))
    assert data.targets[0]["labels"].tolist() == [0, 1] and data.meta["files"] == ["a"]
    # the drawn rectangle is where the box says (bright inside, dark outside)
    full = get_dataset("voc-folder", split="train", root=tmp_path)
    assert full.inputs[0, 0, 0:20, 0:10].float().mean() > 180 and full.inputs[0, 0, 25:, 12:28].float().mean() < 60


def test_zero_area_box_is_dropped_with_a_warning_naming_the_file(tmp_path):
    write_fake_voc(tmp_path, {"z": [("cell", 5, 5, 5, 5), ("cell", 2, 2, 9, 9)]})
    with pytest.warns(UserWarning, match=r"z.xml: dropped a zero-area cell box at \(5, 5, 5, 5\)"):
        data = get_dataset("voc-folder", split="train", root=tmp_path)
    assert len(data.targets[0]["boxes"]) == 1


@pytest.mark.parametrize("box, message", [
    ((10, 5, 4, 9), r"bad.xml: cell box \(10, 5, 4, 9\) has x2 < x1"),
    ((10, 5, 70, 9), r"bad.xml: cell box \(10, 5, 70, 9\) reaches outside its 64x48 image"),
    ((-3, 5, 7, 9), r"reaches outside"),
])
def test_bad_boxes_are_one_line_errors_naming_the_file(tmp_path, box, message):
    write_fake_voc(tmp_path, {"bad": [("cell", *box)]})
    with pytest.raises(LayerlabError, match=message) as err:
        get_dataset("voc-folder", split="train", root=tmp_path)
    assert "\n" not in str(err.value)


def test_missing_annotation_file_and_unknown_class_are_one_line_errors(tmp_path):
    write_fake_voc(tmp_path, {"a": [("cell", 1, 1, 5, 5)]}, splits={"train": ["a", "gone"]})
    with pytest.raises(LayerlabError, match=r"gone.xml: annotation file not found"):
        get_dataset("voc-folder", split="train", root=tmp_path)
    with pytest.raises(LayerlabError, match=r"a.xml: class 'cell' is not one of RBC, WBC"):
        read_voc_xml(tmp_path / "Annotations" / "a.xml", ("RBC", "WBC"))
    with pytest.raises(LayerlabError, match=r"val.txt: split list not found"):
        get_dataset("voc-folder", split="val", root=tmp_path)


def test_boxes_ride_through_the_batch_loader_and_flip_with_the_image(tmp_path):
    write_fake_voc(tmp_path, {"a": [("cell", 1, 1, 10, 20)], "b": [("cell", 5, 5, 20, 9), ("cell", 30, 30, 40, 40)]})
    data = get_dataset("voc-folder", split="train", root=tmp_path)
    flip = random_hflip(p=1.0, targets="boxes")
    (inputs, targets), = list(BatchLoader(data, batch_size=2, transform=flip))
    assert inputs.shape == (2, 3, 48, 64) and [len(t["boxes"]) for t in targets] == [1, 2]
    torch.testing.assert_close(targets[0]["boxes"], torch.tensor([[54.0, 0, 64, 20]]))


def test_real_bccd_has_its_published_counts_and_drops_its_two_zero_area_boxes(shared_datasets):
    counts = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for split in ("train", "val", "test"):
            data = get_dataset("bccd", split=split, root=shared_datasets)
            counts[split] = (len(data), torch.bincount(torch.cat([t["labels"] for t in data.targets]), minlength=3).tolist())
    # MANIFEST: 205 / 87 / 72 images; test RBC 805, WBC 71, Platelets 69; 4,888 boxes less the two empty RBCs
    assert counts["test"] == (72, [805, 71, 69]) and counts["train"][0] == 205 and counts["val"][0] == 87
    assert sum(sum(c) for _, c in counts.values()) == 4888 - 2
    assert sorted(str(w.message)[:22] for w in caught) == ["BloodImage_00338.xml: ", "BloodImage_00343.xml: "]
    assert data.inputs.shape == (72, 3, 240, 320)


def test_tight_box_is_the_ink():
    pixels = torch.zeros(10, 12, dtype=torch.bool)
    pixels[2:5, 3:9] = True
    assert tight_box(pixels) == (3, 2, 9, 5) and tight_box(torch.zeros(4, 4, dtype=torch.bool)) is None


def test_mnist_detection_is_seeded_with_exact_non_overlapping_boxes(tmp_path):
    write_fake_mnist(tmp_path / "mnist", {"train": 60, "test": 20})
    a = get_dataset("mnist-detection", split="train", root=tmp_path, count=12, seed=3)
    b = get_dataset("mnist-detection", split="train", root=tmp_path, count=12, seed=3)
    c = get_dataset("mnist-detection", split="val", root=tmp_path, count=12, seed=3)
    assert torch.equal(a.inputs, b.inputs) and not torch.equal(a.inputs, c.inputs)
    assert a.inputs.shape == (12, 1, 128, 128) and a.classes == tuple("0123456789")
    for image, target in zip(a.inputs, a.targets):
        boxes = target["boxes"]
        assert 1 <= len(boxes) <= 5 and len(target["labels"]) == len(boxes)
        sides = boxes[:, 2:] - boxes[:, :2]
        assert sides.min() >= 20 and sides.max() <= 56               # 28 px noise digits at 0.75x..2x
        ink = torch.zeros(128, 128, dtype=torch.bool)
        for x1, y1, x2, y2 in boxes.int().tolist():
            assert not ink[y1:y2, x1:x2].any()                       # no two boxes overlap
            ink[y1:y2, x1:x2] = True
            assert tight_box(image[0, y1:y2, x1:x2] > 0) == (0, 0, x2 - x1, y2 - y1)   # box = its ink, exactly
        assert not (image[0][~ink] > 0).any()                         # and no ink outside the boxes
