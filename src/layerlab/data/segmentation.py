"""Segmentation data: images with a mask of class ids per pixel, read from paired image files.

A folder `images/` holds the pictures and `masks/` one mask per picture with the same file stem
(`images/7.png` <-> `masks/7.png`). Inputs are uint8 (N, C, H, W), targets long (N, H, W) class ids.
Files are ordered by their stems in natural order (2 before 10), because segmentation sets are
often consecutive sections or frames: the splits hold out contiguous blocks (data/splits.py).

`isbi2012` is the U-Net paper's data: 30 consecutive 512x512 electron-microscope sections of a
fruit-fly larva's nerve cord (train/image, train/label). Its labels are 255 = cell (white) and
0 = membrane (black); here membrane is class 1 and cell class 0, so "positive" means membrane and
the membrane IoU is the number that an all-cell prediction (78% pixel accuracy) cannot fake.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from PIL import UnidentifiedImageError
from torch import Tensor

from layerlab.data.download import dataset_folders, find_copy
from layerlab.data.imagefile import open_image
from layerlab.data.registry import register_dataset
from layerlab.data.splits import contiguous_folds, contiguous_split
from layerlab.data.tensors import TensorData
from layerlab.errors import LayerlabError

SUFFIXES = (".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg")
MASK_MODES = ("L", "P", "1", "I", "I;16")        # one channel of integers: class ids (or values mapped to them)
ISBI_CLASSES = ("cell", "membrane")
ISBI_MASK_VALUES = (255, 0)                      # class 0 = cell is white (255), class 1 = membrane is black (0)


def natural_key(stem: str) -> tuple:
    """Sort key putting "2" before "10": digit runs compare as numbers."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", stem))


def _files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise LayerlabError(f"no folder {folder}: a segmentation set needs an image folder and a mask folder")
    return {p.stem: p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES}


def paired_files(images: Path, masks: Path) -> list[tuple[str, Path, Path]]:
    """(stem, image, mask) for every stem, in natural order; an image without a mask (or the reverse) is an error."""
    pictures, labels = _files(images), _files(masks)
    for stem, path in sorted(pictures.items()):
        if stem not in labels:
            raise LayerlabError(f"{path} has no mask: expected {masks}/{stem}.png (same file stem)")
    for stem, path in sorted(labels.items()):
        if stem not in pictures:
            raise LayerlabError(f"{path} has no image: expected {images}/{stem}.png (same file stem)")
    if not pictures:
        raise LayerlabError(f"{images} holds no image files ({', '.join(SUFFIXES)})")
    return [(stem, pictures[stem], labels[stem]) for stem in sorted(pictures, key=natural_key)]


def _read(path: Path) -> tuple[np.ndarray, str]:
    try:
        with open_image(path, str(path)) as opened:
            return np.asarray(opened), opened.mode
    except (UnidentifiedImageError, OSError) as exc:
        raise LayerlabError(f"{path} is not a readable image ({exc})") from None


def _class_ids(mask: np.ndarray, path: Path, lookup: Tensor, num_classes: int) -> Tensor:
    """Pixel values -> class ids through `lookup` (-1: no class); a value that is no class is an error."""
    values = torch.from_numpy(mask.astype(np.int64))
    if int(values.min()) < 0 or int(values.max()) >= len(lookup):
        raise LayerlabError(f"{path} has mask value {int(values.max())}, which is no class (classes 0..{num_classes - 1})")
    ids = lookup[values]
    if bool((ids < 0).any()):
        bad = int(values[ids < 0][0])
        raise LayerlabError(f"{path} has mask value {bad}, which is no class (expected the values {_known(lookup)})")
    return ids


def _known(lookup: Tensor) -> str:
    return ", ".join(f"{v} (class {int(lookup[v])})" for v in (lookup >= 0).nonzero().flatten().tolist())


def read_pairs(images: Path, masks: Path, *, num_classes: int = 2, mask_values: tuple[int, ...] | None = None) -> tuple[Tensor, Tensor, list[str]]:
    """Every image and mask of two folders: uint8 (N, C, H, W), long (N, H, W), and the stems in order.

    Mask pixels are class ids 0..num_classes-1, or, with `mask_values`, the pixel value of each
    class in order (a black-and-white mask saved as 0/255: mask_values=(0, 255)). Images are
    grayscale (C = 1) when every one of them is, else RGB. All images must share one size.
    """
    values = tuple(range(num_classes)) if mask_values is None else tuple(mask_values)
    lookup = torch.full((max(max(values) + 1, 256),), -1, dtype=torch.long)
    lookup[list(values)] = torch.arange(len(values))
    pairs = paired_files(images, masks)
    pictures, targets = [], []
    for stem, image_path, mask_path in pairs:
        picture, mode = _read(image_path)
        mask, mask_mode = _read(mask_path)
        if mask_mode not in MASK_MODES:
            raise LayerlabError(f"{mask_path} is a {mask_mode} image; a mask needs one channel of class ids ({', '.join(MASK_MODES)})")
        if mask.shape[:2] != picture.shape[:2]:
            raise LayerlabError(f"{mask_path} is {mask.shape[1]}x{mask.shape[0]} but its image {image_path.name} is "
                                f"{picture.shape[1]}x{picture.shape[0]}: a mask must have its image's size")
        if pictures and picture.shape[:2] != pictures[0].shape[:2]:
            raise LayerlabError(f"{image_path} is {picture.shape[1]}x{picture.shape[0]} but {pairs[0][1].name} is "
                                f"{pictures[0].shape[1]}x{pictures[0].shape[0]}: all images must share one size")
        pictures.append(picture if mode != "1" else picture.astype(np.uint8) * 255)
        targets.append(_class_ids(mask, mask_path, lookup, len(values)))
    gray = all(p.ndim == 2 for p in pictures)
    arrays = [p if gray else _rgb(p) for p in pictures]
    inputs = torch.from_numpy(np.stack(arrays).astype(np.uint8))                 # (N, H, W) or (N, H, W, 3)
    inputs = inputs[:, None] if gray else inputs.permute(0, 3, 1, 2)              # (N, C, H, W)
    return inputs.contiguous(), torch.stack(targets), [stem for stem, _, _ in pairs]


def _rgb(picture: np.ndarray) -> np.ndarray:
    if picture.ndim == 2:
        return np.repeat(picture[..., None], 3, axis=-1)
    return picture[..., :3]                                                       # RGBA: drop the alpha


def split_rows(n: int, split: str, *, test_size: int, val_size: int, folds: int, fold: int) -> Tensor:
    """The rows of `split`: the default contiguous hold-out, or fold `fold` of `folds` contiguous blocks."""
    if split == "all":
        return torch.arange(n)
    if folds == 0:
        return contiguous_split(n, test_size=test_size, val_size=val_size)[split]
    if not 0 <= fold < folds:
        raise LayerlabError(f"fold must be 0..{folds - 1} for {folds} folds, got {fold}")
    return contiguous_folds(n, folds)[fold][split]


def _dataset(name: str, inputs: Tensor, targets: Tensor, stems: list[str], split: str, classes: tuple[str, ...],
             source: Path, **split_options: int) -> TensorData:
    rows = split_rows(len(inputs), split, **split_options)
    return TensorData(inputs[rows], targets[rows], classes, name,
                      {"source": str(source), "files": [stems[i] for i in rows.tolist()], "rows": rows.tolist()})


@register_dataset("segmentation-folder", task="segmentation", input_shape=None, splits=("train", "val", "test", "all"),
                  description="your own segmentation data: DIR/images/ and DIR/masks/ with the same file stems",
                  files="pass --data-dir DIR where DIR/images/ holds the pictures and DIR/masks/ one mask each (same stem)")
def segmentation_folder(root: Path | None = None, split: str = "train", *, num_classes: int = 2,
                        mask_values: tuple[int, ...] | None = None, test_size: int = 5, val_size: int = 5,
                        folds: int = 0, fold: int = 0) -> TensorData:
    """One contiguous split of DIR/images + DIR/masks (see `read_pairs` for the mask values)."""
    found = find_copy("segmentation-folder", root, lambda f: f if (f / "images").is_dir() and (f / "masks").is_dir() else None)
    if found is None:
        looked = ", ".join(str(p) for p in dataset_folders("segmentation-folder", root))
        raise LayerlabError(f"segmentation-folder: no images/ and masks/ folders found (looked in {looked}); pass --data-dir DIR")
    inputs, targets, stems = read_pairs(found / "images", found / "masks", num_classes=num_classes, mask_values=mask_values)
    classes = tuple(str(i) for i in range(num_classes if mask_values is None else len(mask_values)))
    return _dataset("segmentation-folder", inputs, targets, stems, split, classes, found, test_size=test_size,
                    val_size=val_size, folds=folds, fold=fold)


@register_dataset("isbi2012", task="segmentation", input_shape=(1, 512, 512), splits=("train", "val", "test", "all"),
                  num_classes=2, description="ISBI 2012 EM membranes (U-Net paper): 30 sections 512x512, class 1 = membrane",
                  files="pass --data-dir DIR where DIR/train/image/0..29.png and DIR/train/label/0..29.png are the ISBI 2012 slices")
def isbi2012(root: Path | None = None, split: str = "train", *, test_size: int = 5, val_size: int = 5,
             folds: int = 0, fold: int = 0) -> TensorData:
    """One contiguous split of the 30 labelled sections: by default 20 train, 5 val (20-24), 5 test (25-29)."""
    accept = lambda f: f / "train" if (f / "train" / "image").is_dir() and (f / "train" / "label").is_dir() else None  # noqa: E731
    found = find_copy("isbi2012", root, accept, folder_names=("isbi2012-membrane",))
    if found is None:
        looked = ", ".join(str(p) for p in dataset_folders("isbi2012", root, folder_names=("isbi2012-membrane",)))
        raise LayerlabError(f"isbi2012: no train/image and train/label folders found (looked in {looked}); pass --data-dir DIR "
                            "holding the ISBI 2012 slices as DIR/train/image/0..29.png and DIR/train/label/0..29.png")
    inputs, targets, stems = read_pairs(found / "image", found / "label", mask_values=ISBI_MASK_VALUES)
    return _dataset("isbi2012", inputs, targets, stems, split, ISBI_CLASSES, found.parent, test_size=test_size,
                    val_size=val_size, folds=folds, fold=fold)
