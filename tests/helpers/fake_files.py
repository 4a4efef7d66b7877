"""Writers of tiny dataset files, so reader tests never need the network or the real data."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from layerlab.data.idx import write_idx

MNIST_PREFIX = {"train": "train", "test": "t10k"}  # the official file-name prefixes per split


def write_fake_mnist(
    folder: Path, sizes: dict[str, int] | None = None, *, gz: bool = True, seed: int = 0
) -> dict[str, tuple[Tensor, Tensor]]:
    """Write MNIST-style IDX files for each split; returns {split: (images (N,28,28) uint8, labels (N,) uint8)}."""
    sizes = sizes or {"train": 6, "test": 4}
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    suffix = ".gz" if gz else ""
    written = {}
    for split, n in sizes.items():
        images = torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8)
        labels = torch.randint(0, 10, (n,), generator=g, dtype=torch.uint8)
        prefix = MNIST_PREFIX[split]
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
        written[split] = (images, labels)
    return written


def write_bar_digits(folder: Path, sizes: dict[str, int], *, noise: int = 60) -> Path:
    """IDX files of noisy 28x28 images (background 0..noise-1) whose class is a bright bar at row
    2 + 2·label: learnable in a few steps. Returns the folder."""
    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    for split, n in sizes.items():
        labels = torch.arange(n) % 10
        images = torch.randint(0, noise, (n, 28, 28), generator=g)
        for i, label in enumerate(labels.tolist()):
            images[i, 2 + 2 * label : 4 + 2 * label, 4:24] = 255
        write_idx(folder / f"{MNIST_PREFIX[split]}-images-idx3-ubyte", images.to(torch.uint8))
        write_idx(folder / f"{MNIST_PREFIX[split]}-labels-idx1-ubyte", labels.to(torch.uint8))
    return folder


def bar_digit(label: int, seed: int = 0) -> np.ndarray:
    """One image like write_bar_digits' (a bar at row 2 + 2·label on dark noise) as (28, 28) uint8."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 60, (28, 28), dtype=np.uint8)
    image[2 + 2 * label : 4 + 2 * label, 4:24] = 255
    return image


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]], *, quote_all: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(rows)
    return path


BOSTON_LOWER = ("crim", "zn", "indus", "chas", "nox", "rm", "age", "dis", "rad", "tax", "ptratio", "b", "lstat", "medv")


def boston_rows(n: int = 10) -> list[list[float]]:
    """n rows of 14 numbers; CRIM is the row number, so a test can tell rows apart after a shuffle."""
    return [
        [float(i), 18.0, 2.31, float(i % 2), 0.5, 6.0 + i / 10, 65.2, 4.09, 1.0, 296.0, 15.3, 396.9, 4.98, 20.0 + i]
        for i in range(n)
    ]


def write_fake_boston(folder: Path, rows: list[list[float]], *, uppercase: bool = False) -> Path:
    """BostonHousing.csv (lowercase headers, quoted chas, as mlbench) or boston_housing.csv (uppercase)."""
    if uppercase:
        return write_csv(folder / "boston_housing.csv", [h.upper() for h in BOSTON_LOWER], rows)
    path = folder / "BostonHousing.csv"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [",".join(f'"{h}"' for h in BOSTON_LOWER)]
    for row in rows:
        cells = [repr(v) for v in row]
        cells[3] = f'"{int(row[3])}"'  # chas is quoted in the mlbench file
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


CALIFORNIA_HEADER = ("longitude", "latitude", "housing_median_age", "total_rooms", "total_bedrooms",
                     "population", "households", "median_income", "median_house_value", "ocean_proximity")
OCEAN = ("<1H OCEAN", "INLAND", "ISLAND", "NEAR BAY", "NEAR OCEAN")


def california_rows(n: int = 10, blank_bedrooms: Sequence[int] = ()) -> list[list[object]]:
    """n rows in housing.csv's column order; total_bedrooms is 100 + 10 * row, blank at the given rows."""
    rows: list[list[object]] = []
    for i in range(n):
        bedrooms: object = "" if i in blank_bedrooms else 100.0 + 10 * i
        rows.append([-122.0 + i / 100, 37.0, 41.0, 880.0 + i, bedrooms, 322.0, 126.0, 3.0 + i / 10,
                     100000.0 + 1000 * i, OCEAN[i % len(OCEAN)]])
    return rows


def write_fake_california(folder: Path, rows: list[list[object]]) -> Path:
    return write_csv(folder / "housing.csv", CALIFORNIA_HEADER, rows)


def membrane_slice(index: int, size: int = 32, spacing: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """One fake EM section: cells (bright, class 0) walled by 2-pixel membranes (dark, class 1) on a
    grid shifted by `index`, with a little noise: uint8 image (size, size) and class ids (size, size)."""
    rows, cols = np.mgrid[0:size, 0:size]
    membrane = ((rows + index) % spacing < 2) | ((cols + 2 * index) % spacing < 2)
    noise = np.random.default_rng(index).integers(-20, 21, (size, size))
    image = np.where(membrane, 60, 190) + noise
    return image.astype(np.uint8), membrane.astype(np.uint8)


def write_fake_membranes(folder: Path, *, n: int = 10, size: int = 32, layout: str = "isbi") -> Path:
    """`n` fake sections as PNGs. layout "isbi": train/image/<i>.png and train/label/<i>.png with
    255 = cell and 0 = membrane (the ISBI 2012 files); "folder": images/<i>.png and masks/<i>.png
    holding class ids (1 = membrane). Returns `folder`."""
    images, masks = (folder / "train" / "image", folder / "train" / "label") if layout == "isbi" else (folder / "images", folder / "masks")
    images.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        image, membrane = membrane_slice(i, size)
        Image.fromarray(image).save(images / f"{i}.png")
        label = np.where(membrane == 1, 0, 255) if layout == "isbi" else membrane
        Image.fromarray(label.astype(np.uint8)).save(masks / f"{i}.png")
    return folder


def write_fake_cifar(root: Path, per_batch: int = 40, seed: int = 0) -> Path:
    """cifar-10-batches-py/ with 5 training batches and a test batch of `per_batch` images each; labels
    cycle 0..9 and the class is visible (a brighter image for a higher label, plus noise). Returns
    the folder to pass as --data-dir."""
    import pickle

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for name in [f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]:
        labels = [j % 10 for j in range(per_batch)]
        brightness = np.repeat(np.array(labels, dtype=np.uint8) * 19, 3072).reshape(per_batch, 3072)
        data = rng.integers(0, 60, (per_batch, 3072)).astype(np.uint8) + brightness
        (folder / name).write_bytes(pickle.dumps({b"labels": labels, b"data": data}, protocol=2))
    return root


VOC_XML = """<annotation><filename>{stem}.jpg</filename><size><width>{w}</width><height>{h}</height><depth>3</depth></size>
{objects}</annotation>"""
VOC_OBJECT = "<object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"


def write_fake_voc(folder: Path, images: dict[str, list[tuple[str, int, int, int, int]]], *, size: tuple[int, int] = (48, 64),
                   splits: dict[str, list[str]] | None = None) -> Path:
    """A Pascal VOC folder: for each stem a (H, W) = `size` JPEG with a bright rectangle per object, its
    XML (objects: (name, xmin, ymin, xmax, ymax), 1-based inclusive) and ImageSets/Main/<split>.txt."""
    h, w = size
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for stem, objects in images.items():
        pixels = np.full((h, w, 3), 30, dtype=np.uint8)
        for _, x1, y1, x2, y2 in objects:
            pixels[max(y1 - 1, 0) : y2, max(x1 - 1, 0) : x2] = 220
        Image.fromarray(pixels).save(folder / "JPEGImages" / f"{stem}.jpg", quality=95)
        body = "\n".join(VOC_OBJECT.format(name=n, x1=a, y1=b, x2=c, y2=d) for n, a, b, c, d in objects)
        (folder / "Annotations" / f"{stem}.xml").write_text(VOC_XML.format(stem=stem, w=w, h=h, objects=body))
    for split, stems in (splits or {"train": list(images)}).items():
        (folder / "ImageSets" / "Main" / f"{split}.txt").write_text("\n".join(stems) + "\n")
    return folder


def write_fake_coco(folder: Path, split: str, images: dict[str, list[tuple[int, float, float, float, float]]], *,
                    categories: dict[int, str], size: tuple[int, int] = (48, 64), extra: list[dict] | None = None) -> Path:
    """A COCO folder: for each file name a (H, W) = `size` JPEG in <split>/ with a bright rectangle per box,
    and annotations/instances_<split>.json (boxes: (category_id, x, y, w, h)); `extra` annotations are
    appended as given (crowd regions, bad references)."""
    h, w = size
    (folder / split).mkdir(parents=True, exist_ok=True)
    (folder / "annotations").mkdir(parents=True, exist_ok=True)
    listed, notes = [], []
    for image_id, (file_name, boxes) in enumerate(images.items(), start=1):
        pixels = np.full((h, w, 3), 30, dtype=np.uint8)
        for category, x, y, bw, bh in boxes:
            pixels[max(int(y), 0) : int(y + bh), max(int(x), 0) : int(x + bw)] = 220
            notes.append({"id": len(notes) + 1, "image_id": image_id, "category_id": category, "bbox": [x, y, bw, bh],
                          "area": bw * bh, "iscrowd": 0})
        Image.fromarray(pixels).save(folder / split / file_name, quality=95)
        listed.append({"id": image_id, "file_name": file_name, "width": w, "height": h})
    content = {"images": listed, "annotations": notes + list(extra or []),
               "categories": [{"id": i, "name": n, "supercategory": "thing"} for i, n in categories.items()]}
    (folder / "annotations" / f"instances_{split}.json").write_text(json.dumps(content))
    return folder
