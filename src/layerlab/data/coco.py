"""Detection data in the COCO JSON layout: your own images with an instances file (`coco-folder`).

The folder holds what COCO 2017 itself ships:

    DIR/annotations/instances_<split>.json      one file per split (train, val, test)
    DIR/<split>/<file_name>                     the images that file lists

An instances file is one JSON object with three lists:

    "images":      [{"id": 7, "file_name": "a.jpg", "width": 640, "height": 480}, ...]
    "annotations": [{"id": 1, "image_id": 7, "category_id": 3, "bbox": [x, y, w, h]}, ...]
    "categories":  [{"id": 3, "name": "cell"}, ...]

COCO boxes are already continuous pixels (layerlab.boxes): a box [x, y, w, h] becomes x1 = x,
y1 = y, x2 = x + w, y2 = y + h; no VOC-style "- 1". Category ids need not be 0..K-1 (COCO's own
run 1..90 with gaps): the classes are the categories in the order of their ids, numbered 0..K-1.
Crowd regions ("iscrowd": 1, one box around many objects) are dropped with a warning, as COCO's
own evaluation ignores them. A box with w or h <= 0, one reaching outside its image (by more than
half a pixel, the rounding of a float export), an annotation of an unknown image or category, a
missing image or a missing instances file is a one-line error naming the file.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from layerlab.data.download import find_copy
from layerlab.data.imagefile import read_pixels
from layerlab.data.registry import register_dataset
from layerlab.data.tensors import TensorData
from layerlab.errors import LayerlabError

COCO_SPLITS = ("train", "val", "test")
SLACK = 0.5          # pixels a box may reach past its image before it is an error (then it is clipped)


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise LayerlabError(f"{path}: instances file not found (a COCO folder has annotations/instances_<split>.json)")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LayerlabError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(content, dict) or not all(isinstance(content.get(k), list) for k in ("images", "annotations", "categories")):
        raise LayerlabError(f"{path}: expected one JSON object with lists 'images', 'annotations' and 'categories'")
    return content


def _box(note: dict[str, Any], image: dict[str, Any], path: Path) -> list[float]:
    """[x1, y1, x2, y2] of one annotation, checked against its image's width and height."""
    where = f"{path}: annotation {note.get('id', '?')} of {image['file_name']}"
    try:
        x, y, w, h = (float(v) for v in note["bbox"])
    except (KeyError, TypeError, ValueError):
        raise LayerlabError(f"{where}: 'bbox' must be four numbers [x, y, w, h]") from None
    if w <= 0 or h <= 0:
        raise LayerlabError(f"{where}: bbox [{x:g}, {y:g}, {w:g}, {h:g}] has w <= 0 or h <= 0")
    width, height = image["width"], image["height"]
    if x < -SLACK or y < -SLACK or x + w > width + SLACK or y + h > height + SLACK:
        raise LayerlabError(f"{where}: bbox [{x:g}, {y:g}, {w:g}, {h:g}] reaches outside its {width}x{height} image")
    return [max(x, 0.0), max(y, 0.0), min(x + w, width), min(y + h, height)]


def read_coco_json(path: Path) -> tuple[list[dict[str, Any]], list[list[list[float]]], list[list[int]], tuple[str, ...], list[str]]:
    """One instances file: its images (in file order), each image's boxes and 0-based labels, the
    class names (categories by id) and notes (crowd regions dropped)."""
    content = _load(path)
    try:
        categories = sorted((int(c["id"]), str(c["name"])) for c in content["categories"])
        images = [{"id": int(i["id"]), "file_name": str(i["file_name"]), "width": int(i["width"]), "height": int(i["height"])}
                  for i in content["images"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise LayerlabError(f"{path}: every category needs 'id' and 'name', every image 'id', 'file_name', "
                            f"'width' and 'height' ({exc!r} is missing or wrong)") from None
    label_of = {cid: k for k, (cid, _) in enumerate(categories)}
    row_of = {image["id"]: k for k, image in enumerate(images)}
    boxes: list[list[list[float]]] = [[] for _ in images]
    labels: list[list[int]] = [[] for _ in images]
    crowd = 0
    for note in content["annotations"]:
        if note.get("image_id") not in row_of:
            raise LayerlabError(f"{path}: annotation {note.get('id', '?')} names image_id {note.get('image_id')!r}, "
                                "which is not in 'images'")
        if note.get("category_id") not in label_of:
            raise LayerlabError(f"{path}: annotation {note.get('id', '?')} names category_id {note.get('category_id')!r}, "
                                "which is not in 'categories'")
        row = row_of[note["image_id"]]
        if note.get("iscrowd", 0):
            crowd += 1
            continue
        boxes[row].append(_box(note, images[row], path))
        labels[row].append(label_of[note["category_id"]])
    notes = [f"{path.name}: dropped {crowd} crowd regions (iscrowd = 1)"] if crowd else []
    return images, boxes, labels, tuple(name for _, name in categories), notes


def read_coco(folder: Path, split: str, *, scale: float = 1.0, name: str = "coco-folder") -> TensorData:
    """The images of `annotations/instances_<split>.json`, resized by `scale` (boxes too), with their boxes."""
    path = folder / "annotations" / f"instances_{split}.json"
    images, boxes, labels, classes, notes = read_coco_json(path)
    if not images:
        raise LayerlabError(f"{path}: 'images' is empty")
    if notes:
        warnings.warn("; ".join(notes), stacklevel=2)
    sizes = {(image["height"], image["width"]) for image in images}
    if len(sizes) != 1:
        raise LayerlabError(f"{path}: the images of {split} have different sizes ({sorted(sizes)[:3]}); "
                            "one size is expected (resize them first)")
    height, width = sizes.pop()
    out = (round(height * scale), round(width * scale))
    factor = torch.tensor([out[1] / width, out[0] / height] * 2)
    pictures = [read_pixels(folder / split / image["file_name"], "RGB", size=out, named_by=path) for image in images]
    targets = [{"boxes": torch.tensor(b, dtype=torch.float32).reshape(-1, 4) * factor, "labels": torch.tensor(c, dtype=torch.long)}
               for b, c in zip(boxes, labels)]
    inputs = torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2).contiguous()    # (N, 3, H, W) uint8
    return TensorData(inputs, targets, classes, name, {"source": str(folder), "files": [i["file_name"] for i in images],
                                                       "notes": notes, "scale": scale})


def _coco_copy(folder: Path) -> Path | None:
    return folder if (folder / "annotations").is_dir() else None


@register_dataset("coco-folder", task="detection", input_shape=None, splits=COCO_SPLITS,
                  description="your own detection data in the COCO JSON layout (annotations/instances_<split>.json, <split>/ images)",
                  files="pass --data-dir DIR where DIR holds annotations/instances_<split>.json and <split>/<file_name>")
def coco_folder(root: Path | None = None, split: str = "train", *, scale: float = 1.0) -> TensorData:
    """A split of your COCO folder; classes are its categories in the order of their ids."""
    found = find_copy("coco-folder", root, _coco_copy)
    if found is None:
        raise LayerlabError("coco-folder: pass --data-dir DIR holding annotations/instances_<split>.json and <split>/ images")
    return read_coco(found, split, scale=scale)
