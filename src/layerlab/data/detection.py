"""Detection data: images with boxes, read from Pascal VOC folders (BCCD, or your own).

A VOC folder holds `JPEGImages/<id>.jpg`, one `Annotations/<id>.xml` per image (an <object> per
box: <name>, <bndbox> xmin ymin xmax ymax) and `ImageSets/Main/<split>.txt` (one id a line).
Targets are a list with one dict per image, {"boxes": (K, 4) float x1, y1, x2, y2, "labels": (K,)}
(layerlab.data.tensors: transforms that flip or crop an image move its boxes with it).

VOC corners are 1-based pixel indices, both inclusive: xmin = 1, xmax = 640 is the whole width of
a 640-pixel image. Here boxes are continuous (layerlab.boxes), so x1 = xmin - 1 and x2 = xmax.
A box with xmax = xmin (no width at all; BCCD has two) is dropped with a warning naming its file;
one with xmax < xmin, or reaching outside its image, is a one-line error naming the file.

`bccd` is the BCCD blood-cell set: 364 smear photographs of 640x480 with 4,888 boxes of red
cells (RBC), white cells (WBC) and platelets, split by its own lists (train 205, val 87, test 72).
"""

from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from layerlab.data.download import dataset_folders, find_copy
from layerlab.data.imagefile import read_pixels
from layerlab.data.registry import register_dataset
from layerlab.data.tensors import TensorData
from layerlab.errors import LayerlabError

BCCD_CLASSES = ("RBC", "WBC", "Platelets")
VOC_SPLITS = ("train", "val", "trainval", "test")


def _number(node: ET.Element, tag: str, path: Path) -> float:
    found = node.find(tag)
    try:
        return float(found.text)            # type: ignore[union-attr, arg-type]
    except (AttributeError, TypeError, ValueError):
        raise LayerlabError(f"{path}: an object's <{tag}> is missing or not a number") from None


def read_voc_xml(path: Path, classes: tuple[str, ...] | None = None) -> tuple[Tensor, list[str], tuple[int, int], list[str]]:
    """One annotation file: boxes (K, 4) continuous x1, y1, x2, y2, their class names, the image's
    (height, width) from <size>, and notes (zero-width boxes dropped). Unknown class names are an
    error when `classes` is given."""
    if not path.is_file():
        raise LayerlabError(f"{path}: annotation file not found (each image needs Annotations/<id>.xml)")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise LayerlabError(f"{path}: not readable XML ({exc})") from None
    size = root.find("size")
    if size is None:
        raise LayerlabError(f"{path}: no <size> with the image's <width> and <height>")
    width, height = int(_number(size, "width", path)), int(_number(size, "height", path))
    boxes, names, notes = [], [], []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        if classes is not None and name not in classes:
            raise LayerlabError(f"{path}: class {name!r} is not one of {', '.join(classes)}")
        box = obj.find("bndbox")
        if box is None:
            raise LayerlabError(f"{path}: object {name!r} has no <bndbox>")
        xmin, ymin, xmax, ymax = (_number(box, tag, path) for tag in ("xmin", "ymin", "xmax", "ymax"))
        if xmax < xmin or ymax < ymin:
            raise LayerlabError(f"{path}: {name} box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) has x2 < x1 or y2 < y1")
        if xmin < 0 or ymin < 0 or xmax > width or ymax > height:
            raise LayerlabError(f"{path}: {name} box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g}) reaches outside "
                                f"its {width}x{height} image")
        if xmax == xmin or ymax == ymin:
            notes.append(f"{path.name}: dropped a zero-area {name} box at ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g})")
            continue
        boxes.append([max(xmin - 1, 0.0), max(ymin - 1, 0.0), xmax, ymax])
        names.append(name)
    return torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), names, (height, width), notes


def read_voc(folder: Path, split: str, classes: tuple[str, ...] | None = None, *, scale: float = 1.0,
             name: str = "voc-folder") -> TensorData:
    """Every image of `ImageSets/Main/<split>.txt`, resized by `scale` (boxes too), with its boxes."""
    listing = folder / "ImageSets" / "Main" / f"{split}.txt"
    if not listing.is_file():
        raise LayerlabError(f"{listing}: split list not found (a VOC folder lists each split's image ids there)")
    ids = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    parsed = [(i, *read_voc_xml(folder / "Annotations" / f"{i}.xml", classes)) for i in ids]
    if classes is None:
        classes = tuple(sorted({n for _, _, names, _, _ in parsed for n in names}))
    notes = [note for *_, found in parsed for note in found]
    if notes:
        warnings.warn("; ".join(notes), stacklevel=2)
    sizes = {shape for _, _, _, shape, _ in parsed}
    if len(sizes) != 1:
        raise LayerlabError(f"{folder}: the images of {split} have different sizes ({sorted(sizes)[:3]}); "
                            "one size is expected (resize them first)")
    height, width = sizes.pop()
    out = (round(height * scale), round(width * scale))
    pictures, targets = [], []
    for image_id, boxes, names, _, _ in parsed:
        pictures.append(read_pixels(folder / "JPEGImages" / f"{image_id}.jpg", "RGB", size=out))
        factor = torch.tensor([out[1] / width, out[0] / height] * 2)
        targets.append({"boxes": boxes * factor, "labels": torch.tensor([classes.index(n) for n in names], dtype=torch.long)})
    inputs = torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2).contiguous()    # (N, 3, H, W) uint8
    return TensorData(inputs, targets, classes, name, {"source": str(folder), "files": ids, "notes": notes, "scale": scale})


def _voc_copy(folder: Path) -> Path | None:
    return folder if (folder / "Annotations").is_dir() and (folder / "ImageSets" / "Main").is_dir() else None


@register_dataset("bccd", task="detection", input_shape=(3, 240, 320), splits=VOC_SPLITS, num_classes=3,
                  description="BCCD blood-cell detection: 364 smear photos, 4,888 boxes of RBC / WBC / Platelets (Pascal VOC)",
                  files="pass --data-dir DIR where DIR/bccd/ (or DIR) holds JPEGImages/, Annotations/ and ImageSets/Main/")
def bccd(root: Path | None = None, split: str = "train", *, scale: float = 0.5) -> TensorData:
    """One of BCCD's own splits, the 640x480 photos scaled by `scale` (default: 320x240)."""
    found = find_copy("bccd", root, _voc_copy, folder_names=("BCCD",))
    if found is None:
        looked = ", ".join(str(p) for p in dataset_folders("bccd", root, folder_names=("BCCD",)))
        raise LayerlabError(f"bccd: no JPEGImages/, Annotations/ and ImageSets/Main/ found (looked in {looked}); "
                            "pass --data-dir DIR holding the BCCD VOC folder")
    return read_voc(found, split, BCCD_CLASSES, scale=scale, name="bccd")


@register_dataset("voc-folder", task="detection", input_shape=None, splits=VOC_SPLITS,
                  description="your own detection data in the Pascal VOC layout (JPEGImages/, Annotations/, ImageSets/Main/)",
                  files="pass --data-dir DIR where DIR holds JPEGImages/<id>.jpg, Annotations/<id>.xml, ImageSets/Main/<split>.txt")
def voc_folder(root: Path | None = None, split: str = "train", *, scale: float = 1.0,
               classes: tuple[str, ...] | None = None) -> TensorData:
    """A split of your VOC folder; classes are the names found in its annotations, sorted, unless given."""
    found = find_copy("voc-folder", root, _voc_copy)
    if found is None:
        raise LayerlabError("voc-folder: pass --data-dir DIR holding JPEGImages/, Annotations/ and ImageSets/Main/")
    return read_voc(found, split, classes, scale=scale)
