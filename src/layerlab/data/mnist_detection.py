"""`mnist-detection`: a seeded detection set drawn from real MNIST digits.

Each 128x128 black canvas gets 1-5 handwritten digits, each scaled by a random factor in
0.75-2 (21 to 56 pixels for a 28-pixel digit) and pasted where its box touches no earlier box.
A digit's box is the tight box of its nonzero pixels as pasted, so the boxes are exact: nobody's
opinion about where a "7" ends. Ten classes, the digits "0".."9".

Training canvases use the first 5/6 of the MNIST training digits (0-49,999), validation
canvases the last 1/6 (50,000-59,999) and test canvases the MNIST test digits, so no handwritten digit is seen in two splits. The same seed
always draws the same canvases, and the splits never share a draw.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from layerlab.data.mnist import DIGIT_CLASSES, mnist
from layerlab.data.registry import register_dataset
from layerlab.data.tensors import TensorData
from layerlab.errors import LayerlabError

COUNTS = {"train": 2000, "val": 200, "test": 500}
STREAMS = {"train": 0, "val": 1, "test": 2}             # split s of seed k draws from seed 4k + s


def tight_box(pixels: Tensor) -> tuple[int, int, int, int] | None:
    """(x1, y1, x2, y2) of the nonzero pixels of (H, W), continuous corners (x2 = last column + 1)."""
    rows, cols = pixels.any(1).nonzero().flatten(), pixels.any(0).nonzero().flatten()
    if len(rows) == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def draw_canvas(digits: Tensor, labels: Tensor, g: torch.Generator, *, size: int = 128, max_digits: int = 5,
                scales: tuple[float, float] = (0.75, 2.0), tries: int = 50) -> tuple[Tensor, dict[str, Tensor]]:
    """One canvas (1, size, size) uint8 and its {"boxes", "labels"}: 1..max_digits digits drawn from
    `digits` (N, 1, 28, 28) with `g`, placed so that no two boxes overlap (a digit that finds no free
    place in `tries` attempts is left out)."""
    canvas = torch.zeros(size, size, dtype=torch.uint8)
    boxes, classes = [], []
    for _ in range(int(torch.randint(1, max_digits + 1, (1,), generator=g))):
        row = int(torch.randint(len(digits), (1,), generator=g))
        scale = scales[0] + (scales[1] - scales[0]) * float(torch.rand(1, generator=g))
        side = round(28 * scale)
        digit = F.interpolate(digits[row : row + 1].float(), size=(side, side), mode="bilinear", antialias=True,
                              align_corners=False)[0, 0].round().clamp(0, 255).to(torch.uint8)   # (side, side)
        box = tight_box(digit > 0)
        if box is None:
            continue
        digit = digit[box[1] : box[3], box[0] : box[2]]                                      # cut to the ink
        h, w = digit.shape
        for _ in range(tries):
            x, y = (int(torch.randint(0, size - w + 1, (1,), generator=g)), int(torch.randint(0, size - h + 1, (1,), generator=g)))
            if all(x >= b[2] or x + w <= b[0] or y >= b[3] or y + h <= b[1] for b in boxes):
                canvas[y : y + h, x : x + w] = digit
                boxes.append((x, y, x + w, y + h))
                classes.append(int(labels[row]))
                break
    return canvas[None], {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                          "labels": torch.tensor(classes, dtype=torch.long)}


@register_dataset("mnist-detection", task="detection", input_shape=(1, 128, 128), num_classes=10,
                  splits=("train", "val", "test"),
                  description="generated from real MNIST digits: 1-5 per 128x128 canvas, scaled 0.75-2x, exact boxes",
                  files="the four MNIST files (see `layerlab data info mnist`); the canvases are drawn from them")
def mnist_detection(root: Path | None = None, split: str = "train", *, seed: int = 0, count: int | None = None,
                    size: int = 128, max_digits: int = 5) -> TensorData:
    """`count` canvases (default 2,000 train, 200 val, 500 test) drawn from seed 4·seed + (0, 1, 2)."""
    count = COUNTS[split] if count is None else count
    if count < 1 or size < 64 or max_digits < 1:
        raise LayerlabError(f"mnist-detection needs count >= 1, size >= 64 and max_digits >= 1; "
                            f"got count={count}, size={size}, max_digits={max_digits}")
    source = mnist(root, "test" if split == "test" else "train")
    cut = len(source) * 5 // 6                     # 50,000 of MNIST's 60,000 training digits
    rows = slice(0, len(source)) if split == "test" else slice(0, cut) if split == "train" else slice(cut, len(source))
    digits, labels = source.inputs[rows], source.targets[rows]
    g = torch.Generator().manual_seed(4 * seed + STREAMS[split])
    drawn = [draw_canvas(digits, labels, g, size=size, max_digits=max_digits) for _ in range(count)]
    return TensorData(torch.stack([image for image, _ in drawn]), [target for _, target in drawn], DIGIT_CLASSES,
                      "mnist-detection", {"source": f"generated from MNIST (seed {seed}, {split})",
                                          "files": [f"{split}-{i}" for i in range(count)]})
