"""Text-image readers on files the tests write: labels from file names or a CSV, padding to the
widest image with each width kept, the seeded splits, and one-line errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from layerlab.data import get_dataset
from layerlab.data.textlines import BLANK, CAPTCHA_VOCAB
from layerlab.errors import LayerlabError


def write_png(path: Path, width: int, height: int, shade: int = 200, mode: str = "L") -> Path:
    pixels = np.full((height, width), shade, dtype=np.uint8)
    pixels[:, -1] = 7                                     # the last column: padding repeats it
    Image.fromarray(pixels).convert(mode).save(path)
    return path


def test_text_images_from_file_names_pad_to_the_widest_and_keep_widths(tmp_path: Path):
    write_png(tmp_path / "ab.png", 20, 16)
    write_png(tmp_path / "cab.png", 40, 32)               # resized to 16 high: 20 wide
    write_png(tmp_path / "ba.png", 12, 8, mode="RGBA")    # RGBA -> gray, 8 -> 16 high: 24 wide
    data = get_dataset("text-images", split="all", root=tmp_path, height=16)
    assert data.classes == (BLANK, "a", "b", "c")         # every label character, sorted; 0 is the blank
    assert data.inputs.dtype == torch.uint8 and tuple(data.inputs.shape) == (3, 1, 16, 24)
    assert data.meta["files"] == ("ab.png", "ba.png", "cab.png")
    assert data.targets["widths"].tolist() == [20, 24, 20]
    assert data.targets["labels"].tolist() == [[1, 2, 0], [2, 1, 0], [3, 1, 2]]
    assert data.targets["label_lengths"].tolist() == [2, 2, 3]
    # "ab.png" (20 wide) is padded to 24 by repeating its last column
    assert data.inputs[0, 0, :, 19:].unique().tolist() == [7]


def test_labels_from_a_csv_and_a_given_vocabulary(tmp_path: Path):
    write_png(tmp_path / "one.png", 30, 10)
    write_png(tmp_path / "two.png", 30, 10)
    (tmp_path / "labels.csv").write_text("file,text\none.png,x1\ntwo.png,1x1\n", encoding="utf-8")
    data = get_dataset("text-images", split="all", root=tmp_path, height=10, vocab="x1y")
    assert data.classes == (BLANK, "x", "1", "y")
    assert data.targets["labels"].tolist() == [[1, 2, 0], [2, 1, 2]]
    (tmp_path / "labels.csv").write_text("file,text\none.png,x1\nthree.png,11\n", encoding="utf-8")
    with pytest.raises(LayerlabError, match=r"labels.csv line 3: no image file .*three.png"):
        get_dataset("text-images", split="all", root=tmp_path, height=10)
    (tmp_path / "labels.csv").write_text("name,label\none.png,x1\n", encoding="utf-8")
    with pytest.raises(LayerlabError, match="needs a header with the columns file,text"):
        get_dataset("text-images", split="all", root=tmp_path, height=10)


def test_a_character_outside_the_vocabulary_is_one_line_naming_the_file(tmp_path: Path):
    write_png(tmp_path / "ab.png", 20, 16)
    write_png(tmp_path / "az.png", 20, 16)
    with pytest.raises(LayerlabError) as error:
        get_dataset("text-images", split="all", root=tmp_path, height=16, vocab="ab")
    assert "\n" not in str(error.value)
    assert str(error.value).endswith("az.png: the label 'az' has 'z', which is not in the vocabulary 'ab'")


def test_captcha_reader_fixed_vocabulary_split_and_folds(tmp_path: Path):
    names = ["226md", "22d5n", "2356g", "23mdg", "24f6w", "24pew", "25257", "253dc", "25egp", "25m6p"]
    folder = tmp_path / "captcha_images_v2"
    folder.mkdir()
    for name in names:
        write_png(folder / f"{name}.png", 200, 50, mode="RGBA")
    train = get_dataset("captcha-v2", split="train", root=tmp_path, val_size=3, seed=0)
    val = get_dataset("captcha-v2", split="val", root=tmp_path, val_size=3, seed=0)
    assert (len(train), len(val)) == (7, 3)
    assert sorted(train.meta["files"] + val.meta["files"]) == [f"{n}.png" for n in names]   # every captcha once
    assert val.meta["files"] == get_dataset("captcha-v2", split="val", root=tmp_path, val_size=3, seed=0).meta["files"]
    assert val.meta["files"] != get_dataset("captcha-v2", split="val", root=tmp_path, val_size=3, seed=1).meta["files"]
    assert train.classes == (BLANK, *CAPTCHA_VOCAB) and tuple(train.inputs.shape[1:]) == (1, 50, 200)
    first = train.meta["files"][0].removesuffix(".png")
    assert [train.classes[i] for i in train.targets["labels"][0].tolist()] == list(first)
    held = [get_dataset("captcha-v2", split="val", root=tmp_path, folds=5, fold=k).meta["files"] for k in range(5)]
    assert sorted(f for fold in held for f in fold) == [f"{n}.png" for n in names] and all(len(f) == 2 for f in held)
    write_png(folder / "2a6md.png", 200, 50)
    with pytest.raises(LayerlabError, match=r"2a6md.png: the label '2a6md' has 'a', which is not in the vocabulary"):
        get_dataset("captcha-v2", split="train", root=tmp_path)


def test_missing_folders_and_unreadable_images_are_one_line(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(LayerlabError, match="captcha-v2: no captcha PNGs found"):
        get_dataset("captcha-v2", split="train", root=tmp_path / "empty")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(LayerlabError, match=r"broken.png is not a readable image"):
        get_dataset("text-images", split="all", root=tmp_path)
