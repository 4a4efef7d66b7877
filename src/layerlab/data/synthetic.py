"""Datasets that need no files: the bundled digits and the course's sine curve."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from layerlab.data.registry import register_dataset
from layerlab.data.splits import split_indices
from layerlab.data.tensors import TensorData

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
