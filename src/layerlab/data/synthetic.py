"""Datasets that need no files: the bundled digits, the course's sine curve, and generated shapes.

`shapes` is a seeded segmentation set drawn here (FCN lab): circles, squares and triangles of
random colours on textured backgrounds, several per image, with exact masks (a pixel belongs to
a shape when its centre lies inside it, and the image is painted from that same mask, so there is
no anti-aliased edge whose class is a matter of opinion). The colours of shapes and backgrounds
come from one distribution: colour alone cannot tell a circle from a square, only form can.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from layerlab.data.registry import register_dataset
from layerlab.data.splits import split_indices
from layerlab.data.tensors import TensorData
from layerlab.errors import LayerlabError

DIGIT_CLASSES = tuple(str(d) for d in range(10))


@register_dataset(
    "digits",
    task="classification",
    input_shape=(1, 8, 8),
    num_classes=10,
    splits=("train", "test", "all"),
    description="scikit-learn's bundled handwritten digits: 1,797 real 8x8 images (no download)",
)
def digits(root: Path | None = None, split: str = "train", test_fraction: float = 0.2) -> TensorData:
    """1,437 train / 360 test images (a fixed shuffle), pixels 0..16 rescaled to uint8 0..255."""
    from sklearn.datasets import load_digits  # bundled with scikit-learn: works with no network

    bunch = load_digits()
    pixels = torch.from_numpy(bunch.images).float() * (255.0 / 16.0)
    inputs = pixels.round().clamp(0, 255).to(torch.uint8).unsqueeze(1)  # (1797, 1, 8, 8)
    targets = torch.from_numpy(bunch.target).long()
    data = TensorData(inputs, targets, DIGIT_CLASSES, "digits", {"mean": (0.3053,), "std": (0.3759,)})
    if split == "all":
        return data
    train_idx, test_idx = split_indices(len(data), test_fraction, seed=0)
    return data.subset(train_idx if split == "train" else test_idx)


@register_dataset(
    "sine",
    task="regression",
    input_shape=(1,),
    splits=("all",),
    description="y = sin(x) at 2,000 evenly spaced points on [-pi, pi] (the course's first exercise)",
)
def sine(root: Path | None = None, split: str = "all", points: int = 2000) -> TensorData:
    x = torch.linspace(-math.pi, math.pi, points, dtype=torch.float64)
    return TensorData(x.unsqueeze(1), torch.sin(x).unsqueeze(1), (), "sine")


# ---------------------------------------------------------------------------------------------
# shapes: a seeded multi-class segmentation set
# ---------------------------------------------------------------------------------------------

SHAPE_CLASSES = ("background", "circle", "square", "triangle")     # class ids 0..3 in the masks
SPLIT_STREAMS = {"train": 0, "val": 1, "test": 2}                  # split s of seed k draws from seed 4k + s
SPLIT_COUNTS = {"train": 1000, "val": 100, "test": 200}


def shape_mask(kind: str, size: int, center: tuple[float, float], extent: float, angle: float = 0.0) -> Tensor:
    """The (size, size) bool mask of one shape: pixel (i, j) is inside when its centre (i + 0.5, j + 0.5) is.

    circle: radius extent/2 around `center`; square: axis-aligned, side round(extent), its top-left
    corner on the pixel grid, so it covers exactly side² pixels when it lies inside the image;
    triangle: equilateral, circumradius 0.7·extent, turned by `angle` radians (its corners may leave the image).
    """
    y = torch.arange(size, dtype=torch.float32)[:, None] + 0.5                 # (size, 1) pixel centres
    x = torch.arange(size, dtype=torch.float32)[None, :] + 0.5                 # (1, size)
    cy, cx = center
    if kind == "circle":
        return (y - cy) ** 2 + (x - cx) ** 2 <= (extent / 2) ** 2
    if kind == "square":
        side = round(extent)
        top, left = round(cy - side / 2), round(cx - side / 2)
        return (y >= top) & (y < top + side) & (x >= left) & (x < left + side)
    if kind == "triangle":
        radius = 0.7 * extent
        corners = [(cy - radius * math.cos(angle + k * 2 * math.pi / 3), cx + radius * math.sin(angle + k * 2 * math.pi / 3))
                   for k in range(3)]
        inside = torch.ones(size, size, dtype=torch.bool)
        for (ay, ax), (by, bx) in zip(corners, corners[1:] + corners[:1]):   # each edge: the centre's side of it
            side_of = lambda py, px: (bx - ax) * (py - ay) - (by - ay) * (px - ax)   # noqa: E731
            inside &= side_of(y, x) * side_of(cy, cx) >= 0
        return inside
    raise LayerlabError(f"shape kind must be one of {', '.join(SHAPE_CLASSES[1:])}, got {kind!r}")


def _texture(size: int, colour: Tensor, g: torch.Generator) -> Tensor:
    """A (3, size, size) texture in [0, 1]: a colour, a smooth blotchy field, stripes of random
    direction and frequency, and pixel noise."""
    coarse = torch.rand(1, 1, 5, 5, generator=g) - 0.5
    smooth = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)[0]      # (1, size, size)
    theta, period = float(torch.rand(1, generator=g)) * math.pi, 4 + 8 * float(torch.rand(1, generator=g))
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    stripes = torch.sin(2 * math.pi * (xx * math.cos(theta) + yy * math.sin(theta)) / period)          # (size, size)
    amount = 0.15 * torch.rand(2, generator=g)
    noise = 0.06 * torch.randn(3, size, size, generator=g)
    return colour[:, None, None] + 0.4 * smooth + amount[0] * stripes + amount[1] * smooth * stripes + noise


def _colour_apart(others: Sequence[Tensor], g: torch.Generator, distance: float = 0.35) -> Tensor:
    """A random RGB colour at least `distance` (Euclidean, in [0, 1]^3) from each of `others`."""
    while True:
        colour = torch.rand(3, generator=g)
        if all(float((colour - other).norm()) >= distance for other in others):
            return colour


def draw_shapes_image(size: int, g: torch.Generator, *, min_shapes: int = 2, max_shapes: int = 4) -> tuple[Tensor, Tensor]:
    """One image (3, size, size) uint8 and its mask (size, size) long: a textured background, then
    `min_shapes`..`max_shapes` shapes drawn one over the other (a later one hides an earlier one)."""
    background = _colour_apart([], g)
    image = _texture(size, background, g)
    mask = torch.zeros(size, size, dtype=torch.long)
    for _ in range(int(torch.randint(min_shapes, max_shapes + 1, (1,), generator=g))):
        label = int(torch.randint(1, len(SHAPE_CLASSES), (1,), generator=g))
        extent = size * (0.18 + 0.2 * float(torch.rand(1, generator=g)))          # 12..24 px on a 64 image
        cy, cx = (extent / 2 + (size - extent) * torch.rand(2, generator=g)).tolist()   # circles, squares wholly inside
        angle = float(torch.rand(1, generator=g)) * 2 * math.pi
        inside = shape_mask(SHAPE_CLASSES[label], size, (cy, cx), extent, angle)
        fill = _texture(size, _colour_apart([background], g), g)
        image = torch.where(inside, fill, image)
        mask[inside] = label
    return (image.clamp(0, 1) * 255).round().to(torch.uint8), mask


@register_dataset(
    "shapes",
    task="segmentation",
    input_shape=(3, 64, 64),
    num_classes=len(SHAPE_CLASSES),
    splits=("train", "val", "test"),
    description="generated: 2-4 circles, squares and triangles on textured backgrounds, exact masks (0 = background)",
)
def shapes(root: Path | None = None, split: str = "train", *, seed: int = 0, size: int = 64, count: int | None = None,
           min_shapes: int = 2, max_shapes: int = 4) -> TensorData:
    """`count` images (default 1000 train, 100 val, 200 test) drawn from the seed 4·seed + (0, 1, 2 for
    train, val, test): the same seed always gives the same images, and the splits never share a draw."""
    count = SPLIT_COUNTS[split] if count is None else count
    if size < 8 or count < 1 or not 1 <= min_shapes <= max_shapes:
        raise LayerlabError(f"shapes needs size >= 8, count >= 1 and 1 <= min_shapes <= max_shapes; "
                            f"got size={size}, count={count}, shapes {min_shapes}..{max_shapes}")
    g = torch.Generator().manual_seed(4 * seed + SPLIT_STREAMS[split])
    drawn = [draw_shapes_image(size, g, min_shapes=min_shapes, max_shapes=max_shapes) for _ in range(count)]
    inputs = torch.stack([image for image, _ in drawn])                          # (N, 3, size, size) uint8
    targets = torch.stack([mask for _, mask in drawn])                           # (N, size, size) class ids
    return TensorData(inputs, targets, SHAPE_CLASSES, "shapes",
                      {"source": f"generated (seed {seed}, {split})", "files": [f"{split}-{i}" for i in range(count)]})
