"""Datasets: registered names, readers that take a directory, tensors out.

Sources, in order (`layerlab.data.download.find_copy`): the user's `--data-dir`; $LAYERLAB_DATA/<name>;
the cache (~/.cache/layerlab/<name>); known system copies; a checksum-verified download. Offline
with no copy: one line saying which file to put where.
"""

from __future__ import annotations

from pathlib import Path

# reader modules, in a visible list: importing one registers its datasets
from layerlab.data import mnist  # noqa: F401
from layerlab.data import synthetic  # noqa: F401
from layerlab.data import cifar  # noqa: F401
from layerlab.data import images  # noqa: F401
from layerlab.data import segmentation  # noqa: F401
from layerlab.data import detection  # noqa: F401
from layerlab.data import coco  # noqa: F401
from layerlab.data import mnist_detection  # noqa: F401
from layerlab.data import tabular  # noqa: F401
from layerlab.data import text  # noqa: F401
from layerlab.data import textlines  # noqa: F401
from layerlab.data import timeseries  # noqa: F401
from layerlab.data.registry import DATASETS, as_path, describe, register_dataset
from layerlab.data.splits import kfold_indices, split_indices, train_val_split
from layerlab.data.tensors import Batch, BatchLoader, TensorData
from layerlab.errors import LayerlabError

__all__ = [
    "Batch",
    "BatchLoader",
    "DATASETS",
    "TensorData",
    "describe",
    "get_dataset",
    "kfold_indices",
    "list_datasets",
    "register_dataset",
    "split_indices",
    "train_val_split",
]


def get_dataset(name: str, split: str = "train", root: str | Path | None = None, **options: object) -> TensorData:
    """Read one split of a registered dataset; `root` is a directory holding its files.

    The split is checked here, once for every dataset, against the splits it registered.
    """
    entry = DATASETS.get(name)
    splits = entry.meta["splits"]
    if split not in splits:
        raise LayerlabError(f"{name} has splits {', '.join(splits)}; got {split!r}")
    return entry.obj(root=as_path(root), split=split, **options)


def list_datasets() -> list[str]:
    return DATASETS.names()
