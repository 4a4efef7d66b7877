"""The dataset registry: a name a user types -> a reader that returns TensorData."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from layerlab.data.tensors import TensorData
from layerlab.registry import Registry

# reader(root, split, **options): root is the user's --data-dir (None: look in the usual places)
Reader = Callable[..., TensorData]

DATASETS: Registry[Reader] = Registry("dataset")


def register_dataset(
    name: str,
    *,
    task: str,
    input_shape: tuple[int, ...] | None,
    splits: tuple[str, ...] = ("train", "test"),
    num_classes: int | None = None,
    description: str = "",
    files: str = "",
) -> Callable[[Reader], Reader]:
    """Register a reader. `files` tells an offline user what to put where (one line)."""
    return DATASETS.register(
        name,
        task=task,
        input_shape=input_shape,
        splits=splits,
        num_classes=num_classes,
        description=description,
        files=files,
    )


def describe(name: str) -> dict[str, Any]:
    entry = DATASETS.get(name)
    return {"name": name, **entry.meta}


def as_path(root: str | Path | None) -> Path | None:
    return None if root in (None, "") else Path(root).expanduser()
