"""Images of text with the text they show: captchas, words, scanned lines (for CRNN + CTC).

Every image becomes one grayscale row of the inputs, resized to a fixed height (its width scaled
with it) and padded on the right, by repeating its last column, to the widest image of the set.
Its own width is kept in the targets, so a CTC loss reads only its real columns. Its text becomes
class ids 1..V in the vocabulary's order (0 is CTC's blank), padded with 0:

    inputs   uint8 (N, 1, H, W_max)
    targets  {"labels": long (N, S_max), "label_lengths": long (N,), "widths": long (N,)}
    classes  ("<blank>", *vocabulary); meta["files"] names each row's image

The text comes from the file name (`226md.png` shows "226md") or from a CSV with columns `file`
and `text`. A character outside the vocabulary is a one-line error naming the file.
`captcha-v2` is the Keras OCR example's 1,040 captchas (200x50, 5 characters from 19), split
936 / 104 with a seed (the Keras example's proportions) or into k folds; `text-images` is your own.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from layerlab.data.download import dataset_folders, find_copy
from layerlab.data.imagefile import read_pixels
from layerlab.data.registry import register_dataset
from layerlab.data.splits import kfold_indices, split_indices
from layerlab.data.tensors import TensorData
from layerlab.errors import LayerlabError

BLANK = "<blank>"
CAPTCHA_VOCAB = "2345678bcdefgmnpwxy"
SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")
SPLITS = ("train", "val", "all")


def image_files(folder: Path) -> list[Path]:
    """The image files of `folder`, sorted by name (so a seed always picks the same rows)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise LayerlabError(f"{folder} holds no image files ({', '.join(SUFFIXES)})")
    return files


def labels_from_csv(path: Path) -> list[tuple[Path, str]]:
    """(image path, text) for every row of a CSV with columns `file` (relative to the CSV's folder) and `text`."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise LayerlabError(f"cannot read the labels file {path}: {exc}") from None
    if not rows or not {"file", "text"} <= set(rows[0]):
        raise LayerlabError(f"{path} needs a header with the columns file,text and one row per image")
    pairs = []
    for line, row in enumerate(rows, start=2):
        image = path.parent / (row["file"] or "").strip()
        if not image.is_file():
            raise LayerlabError(f"{path} line {line}: no image file {image}")
        pairs.append((image, row["text"] or ""))
    return pairs


def encode(text: str, index: dict[str, int], name: str, vocab: str) -> list[int]:
    """Class ids of `text` (1..V); an empty text or an unknown character is a one-line error naming the image."""
    if not text:
        raise LayerlabError(f"{name}: the label is empty; every image needs the text it shows")
    unknown = sorted({ch for ch in text if ch not in index})
    if unknown:
        raise LayerlabError(f"{name}: the label {text!r} has {''.join(unknown)!r}, which is not in the vocabulary "
                            f"{vocab!r}")
    return [index[ch] for ch in text]


def read_text_images(pairs: Sequence[tuple[Path, str]], *, vocab: str, height: int, name: str,
                     source: Path) -> TensorData:
    """Images and their texts as padded tensors (see the module docstring)."""
    index = {ch: i for i, ch in enumerate(vocab, start=1)}                 # 0 is the blank
    labels = [encode(text, index, str(path), vocab) for path, text in pairs]
    pictures = [read_pixels(path, "L", height=height) for path, _ in pairs]
    widths = [p.shape[1] for p in pictures]
    wide, longest = max(widths), max(map(len, labels))
    inputs = np.stack([np.pad(p, ((0, 0), (0, wide - p.shape[1])), mode="edge") for p in pictures])   # (N, H, W_max)
    padded = torch.zeros(len(labels), longest, dtype=torch.long)
    for row, label in enumerate(labels):
        padded[row, : len(label)] = torch.tensor(label)
    targets = {"labels": padded, "label_lengths": torch.tensor([len(lb) for lb in labels]),
               "widths": torch.tensor(widths)}
    return TensorData(torch.from_numpy(inputs).unsqueeze(1).contiguous(), targets, (BLANK, *vocab), name,
                      {"files": tuple(p.name for p, _ in pairs), "vocab": vocab, "source": str(source)})


def split_rows(n: int, split: str, *, val_size: int, folds: int, fold: int, seed: int) -> Tensor:
    """Rows of `split`: a seeded hold-out of `val_size` rows, or fold `fold` of `folds` seeded folds."""
    if split == "all":
        return torch.arange(n)
    if folds:
        if not 0 <= fold < folds:
            raise LayerlabError(f"fold must be 0..{folds - 1} for {folds} folds, got {fold}")
        return kfold_indices(n, folds, seed)[fold][0 if split == "train" else 1]
    if not 1 <= val_size < n:
        raise LayerlabError(f"val_size must be 1..{n - 1} for {n} images, got {val_size}")
    return split_indices(n, val_size / n, seed)[0 if split == "train" else 1]


def _split(data: TensorData, split: str, **options: int) -> TensorData:
    return data.subset(split_rows(len(data), split, **options))


@register_dataset("captcha-v2", task="ctc", input_shape=(1, 50, 200), splits=SPLITS, num_classes=len(CAPTCHA_VOCAB) + 1,
                  description="1,040 captchas of 5 characters from 19 (Keras OCR example); the file name is the label",
                  files="captcha_images_v2/*.png (or the PNGs themselves) in the data directory; label = file name")
def captcha_v2(root: Path | None = None, split: str = "train", *, val_size: int = 104, folds: int = 0, fold: int = 0,
               seed: int = 0) -> TensorData:
    """A seeded split of the captchas: 936 train / 104 val by default, or `folds` folds."""
    def accept(folder: Path) -> Path | None:
        for candidate in (folder / "captcha_images_v2", folder):
            if candidate.is_dir() and any(candidate.glob("*.png")):
                return candidate
        return None

    found = find_copy("captcha-v2", root, accept, folder_names=("captcha_images_v2",))
    if found is None:
        looked = ", ".join(str(p) for p in dataset_folders("captcha-v2", root, folder_names=("captcha_images_v2",)))
        raise LayerlabError(f"captcha-v2: no captcha PNGs found (looked in {looked}); pass --data-dir DIR holding "
                            "captcha_images_v2/*.png")
    pairs = [(path, path.stem) for path in image_files(found)]
    data = read_text_images(pairs, vocab=CAPTCHA_VOCAB, height=50, name="captcha-v2", source=found)
    return _split(data, split, val_size=val_size, folds=folds, fold=fold, seed=seed)


@register_dataset("text-images", task="ctc", input_shape=None, splits=SPLITS,
                  description="your own text images: DIR/*.png named by their text, or DIR/labels.csv (file,text)",
                  files="pass --data-dir DIR holding the images (label = file name) or a labels.csv with columns file,text")
def text_images(root: Path | None = None, split: str = "train", *, vocab: str = "", height: int = 32,
                val_fraction: float = 0.1, folds: int = 0, fold: int = 0, seed: int = 0) -> TensorData:
    """Your images of text; the vocabulary is every character of the labels, sorted, unless `vocab` gives it."""
    found = find_copy("text-images", root, lambda f: f if f.is_dir() and ((f / "labels.csv").is_file() or any(
        p.suffix.lower() in SUFFIXES for p in f.iterdir())) else None)
    if found is None:
        looked = ", ".join(str(p) for p in dataset_folders("text-images", root))
        raise LayerlabError(f"text-images: no images found (looked in {looked}); pass --data-dir DIR")
    csv_path = found / "labels.csv"
    pairs = labels_from_csv(csv_path) if csv_path.is_file() else [(p, p.stem) for p in image_files(found)]
    vocab = vocab or "".join(sorted({ch for _, text in pairs for ch in text}))
    data = read_text_images(pairs, vocab=vocab, height=height, name="text-images", source=found)
    return _split(data, split, val_size=max(1, round(len(data) * val_fraction)), folds=folds, fold=fold, seed=seed)
