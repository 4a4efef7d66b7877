"""Tensor-only batch transforms: a student can print every one of them.

A transform takes and returns a whole batch `(inputs, targets)`; random ones draw from the
loader's generator, so a run is repeatable batch by batch.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from layerlab.data.tensors import Batch, BatchTransform


def to_float(inputs: Tensor) -> Tensor:
    """uint8 pixels 0..255 -> float32 0..1; float inputs pass through unchanged."""
    return inputs.float().div_(255.0) if inputs.dtype == torch.uint8 else inputs.float()


def normalize(inputs: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """(x - mean) / std per channel (dim 1)."""
    shape = (1, -1) + (1,) * (inputs.dim() - 2)
    mean_t = torch.as_tensor(mean, dtype=inputs.dtype, device=inputs.device).view(shape)
    std_t = torch.as_tensor(std, dtype=inputs.dtype, device=inputs.device).view(shape)
    return (inputs - mean_t) / std_t


def compose(*steps: BatchTransform) -> BatchTransform:
    def run(inputs: Tensor, targets: Tensor, g: torch.Generator) -> Batch:
        for step in steps:
            inputs, targets = step(inputs, targets, g)
        return inputs, targets

    return run


def float_normalize(mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> BatchTransform:
    """The usual first transform: pixels to floats in [0, 1], then (x - mean) / std if given."""

    def run(inputs: Tensor, targets: Tensor, g: torch.Generator) -> Batch:
        x = to_float(inputs)
        if mean is not None and std is not None:
            x = normalize(x, mean, std)
        return x, targets

    return run
