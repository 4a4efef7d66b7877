"""Segmentation readers on tiny PNG folders the tests write: pairing, mask values, contiguous splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from layerlab.data import get_dataset
from layerlab.data.segmentation import natural_key, read_pairs
from layerlab.data.splits import contiguous_folds, contiguous_split
from layerlab.data.transforms import random_patch
from layerlab.errors import LayerlabError
from helpers.fake_files import membrane_slice, write_fake_membranes


def test_isbi_labels_map_white_to_cell_0_and_black_to_membrane_1_in_natural_order(tmp_path: Path):
    write_fake_membranes(tmp_path, n=12, size=16)
    data = get_dataset("isbi2012", split="all", root=tmp_path)
    assert data.inputs.dtype == torch.uint8 and data.inputs.shape == (12, 1, 16, 16)
    assert data.targets.dtype == torch.long and data.targets.shape == (12, 16, 16)
    assert data.meta["files"] == [str(i) for i in range(12)]          # 2 before 10
    assert data.classes == ("cell", "membrane")
    image, membrane = membrane_slice(10, 16)
    assert torch.equal(data.targets[10], torch.from_numpy(membrane).long())
    assert torch.equal(data.inputs[10, 0], torch.from_numpy(image))


def test_isbi_default_split_holds_out_the_last_5_as_test_and_the_5_before_as_val(tmp_path: Path):
    write_fake_membranes(tmp_path, n=12, size=16)
    files = {s: get_dataset("isbi2012", split=s, root=tmp_path).meta["files"] for s in ("train", "val", "test")}
    assert files == {"train": ["0", "1"], "val": ["2", "3", "4", "5", "6"], "test": ["7", "8", "9", "10", "11"]}
    fold = get_dataset("isbi2012", split="test", root=tmp_path, folds=4, fold=1)
    assert fold.meta["files"] == ["3", "4", "5"]


def test_contiguous_split_and_folds_by_hand():
    split = contiguous_split(30)
    assert split["test"].tolist() == [25, 26, 27, 28, 29] and split["val"].tolist() == [20, 21, 22, 23, 24]
    assert split["train"].tolist() == list(range(20))
    folds = contiguous_folds(10, 3)                 # blocks 0-3, 4-6, 7-9
    assert folds[0]["test"].tolist() == [0, 1, 2, 3] and folds[0]["val"].tolist() == [7, 8, 9]
    assert folds[0]["train"].tolist() == [4, 5, 6]
    assert folds[2]["test"].tolist() == [7, 8, 9] and folds[2]["val"].tolist() == [4, 5, 6]
    assert sorted(sum((f["test"].tolist() for f in folds), [])) == list(range(10))   # each row tested once
    with pytest.raises(LayerlabError, match="at least one training row"):
        contiguous_split(10, test_size=5, val_size=5)


def test_folder_reader_takes_class_ids_or_mapped_values(tmp_path: Path):
    write_fake_membranes(tmp_path, n=6, size=16, layout="folder")
    data = get_dataset("segmentation-folder", split="all", root=tmp_path)
    assert data.classes == ("0", "1") and data.targets.shape == (6, 16, 16)
    assert torch.equal(data.targets[3], torch.from_numpy(membrane_slice(3, 16)[1]).long())
    inputs, targets, stems = read_pairs(tmp_path / "images", tmp_path / "masks", mask_values=(1, 0))   # swapped
    assert stems == ["0", "1", "2", "3", "4", "5"] and torch.equal(targets, 1 - data.targets)


def _pair(folder: Path, stem: str, image: np.ndarray, mask: np.ndarray) -> None:
    (folder / "images").mkdir(exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    Image.fromarray(image).save(folder / "images" / f"{stem}.png")
    Image.fromarray(mask).save(folder / "masks" / f"{stem}.png")


def test_a_mask_of_another_size_is_a_one_line_error_naming_it(tmp_path: Path):
    _pair(tmp_path, "a", np.zeros((8, 8), np.uint8), np.zeros((8, 6), np.uint8))
    with pytest.raises(LayerlabError, match=r"masks/a.png is 6x8 but its image a.png is 8x8"):
        read_pairs(tmp_path / "images", tmp_path / "masks")


def test_a_mask_value_that_is_no_class_is_a_one_line_error_naming_it(tmp_path: Path):
    mask = np.zeros((8, 8), np.uint8)
    mask[3, 3] = 7
    _pair(tmp_path, "a", np.zeros((8, 8), np.uint8), mask)
    with pytest.raises(LayerlabError, match=r"masks/a.png has mask value 7, which is no class"):
        read_pairs(tmp_path / "images", tmp_path / "masks")
    with pytest.raises(LayerlabError, match=r"has mask value 7.*0 \(class 0\), 255 \(class 1\)"):
        read_pairs(tmp_path / "images", tmp_path / "masks", mask_values=(0, 255))


def test_unpaired_files_are_one_line_errors_naming_them(tmp_path: Path):
    _pair(tmp_path, "a", np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8))
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "images" / "b.png")
    with pytest.raises(LayerlabError, match=r"images/b.png has no mask"):
        read_pairs(tmp_path / "images", tmp_path / "masks")
    (tmp_path / "images" / "b.png").unlink()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "masks" / "c.png")
    with pytest.raises(LayerlabError, match=r"masks/c.png has no image"):
        read_pairs(tmp_path / "images", tmp_path / "masks")


def test_a_missing_isbi_copy_says_what_to_put_where(tmp_path: Path):
    with pytest.raises(LayerlabError, match="train/image/0..29.png"):
        get_dataset("isbi2012", root=tmp_path)


def test_natural_order():
    assert sorted(["10", "2", "a1", "1"], key=natural_key) == ["1", "2", "10", "a1"]


def test_random_patch_cuts_the_same_window_from_image_and_mask():
    images = torch.arange(2 * 10 * 10, dtype=torch.int64).view(2, 1, 10, 10)
    masks = images[:, 0] * 3
    out, moved = random_patch(4, targets="mask")(images, masks, torch.Generator().manual_seed(0))
    assert out.shape == (2, 1, 4, 4) and moved.shape == (2, 4, 4)
    assert torch.equal(moved, out[:, 0] * 3)                  # the mask came from the same pixels
    for picture, patch in zip(images, out):                   # each patch is a contiguous window of its image
        top, left = divmod(int(patch[0, 0, 0]) % 100, 10)
        assert torch.equal(patch, picture[:, top : top + 4, left : left + 4])
    with pytest.raises(LayerlabError, match="needs images at least that large"):
        random_patch(12)(images, masks, torch.Generator())


def test_contiguous_split_and_folds_at_their_smallest():
    # one test row, no validation rows and one training row; k = n folds of one row each
    assert {k: v.tolist() for k, v in contiguous_split(2, test_size=1, val_size=0).items()} == {
        "train": [0], "val": [], "test": [1], "all": [0, 1]}
    folds = contiguous_folds(3, 3)
    assert [(f["test"].tolist(), f["val"].tolist(), f["train"].tolist(), f["all"].tolist()) for f in folds] == [
        ([0], [2], [1], [0, 1, 2]), ([1], [0], [2], [0, 1, 2]), ([2], [1], [0], [0, 1, 2])]
    for bad in (dict(test_size=0, val_size=0), dict(test_size=1, val_size=-1), dict(test_size=1, val_size=1)):
        with pytest.raises(LayerlabError, match=r"^a contiguous split of 2 rows needs test_size >= 1, val_size >= 0 and at least "
                                                rf"one training row; got test_size={bad['test_size']}, val_size={bad['val_size']}$"):
            contiguous_split(2, **bad)
    with pytest.raises(LayerlabError, match=r"^contiguous k-fold needs 3 <= k <= number of rows \(3\) \(a test, a validation "
                                            r"and a training block\), got k=4$"):
        contiguous_folds(3, 4)
