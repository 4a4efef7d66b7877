"""Train/validation splits and k-fold cross-validation (the course's 교차 검증)."""

from __future__ import annotations

import torch
from torch import Tensor

from layerlab.data.tensors import TensorData
from layerlab.errors import LayerlabError


def split_indices(n: int, fraction: float, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Shuffle 0..n-1 with `seed` and cut it: the first part holds `1 - fraction` of the rows,
    and each part at least one row."""
    if not 0.0 < fraction < 1.0:
        raise LayerlabError(f"a split fraction must lie strictly between 0 and 1, got {fraction}")
    if n < 2:
        raise LayerlabError(f"a split into two parts needs at least 2 rows, got {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    cut = n - min(n - 1, max(1, round(n * fraction)))   # 2 rows at 0.75 must keep one to train on
    return order[:cut], order[cut:]


def train_val_split(data: TensorData, fraction: float = 0.1, seed: int = 0) -> tuple[TensorData, TensorData]:
    """Hold out `fraction` of `data` for validation, chosen at random with `seed`."""
    train_idx, val_idx = split_indices(len(data), fraction, seed)
    return data.subset(train_idx), data.subset(val_idx)


def kfold_indices(n: int, k: int = 5, seed: int = 0) -> list[tuple[Tensor, Tensor]]:
    """k (train, validation) index pairs: every row is validated exactly once.

    Fold sizes differ by at most one row, like scikit-learn's KFold(shuffle=True).
    """
    if not 2 <= k <= n:
        raise LayerlabError(f"k-fold needs 2 <= k <= number of rows ({n}), got k={k}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    folds, start = [], 0
    for size in sizes:
        val = order[start : start + size]
        train = torch.cat([order[:start], order[start + size :]])
        folds.append((train, val))
        start += size
    return folds


def contiguous_split(n: int, *, test_size: int = 5, val_size: int = 5) -> dict[str, Tensor]:
    """Rows in order, cut into blocks: the last `test_size` are "test", the `val_size` before them
    "val", the rest "train" ("all": every row).

    For data whose neighbours are near-duplicates (consecutive sections of a volume, frames of a
    video), a random split puts a row's twin on the other side; a contiguous block does not.
    """
    if test_size < 1 or val_size < 0 or test_size + val_size >= n:
        raise LayerlabError(f"a contiguous split of {n} rows needs test_size >= 1, val_size >= 0 and at least one "
                            f"training row; got test_size={test_size}, val_size={val_size}")
    cut_val, cut_test = n - test_size - val_size, n - test_size
    rows = torch.arange(n)
    return {"train": rows[:cut_val], "val": rows[cut_val:cut_test], "test": rows[cut_test:], "all": rows}


def contiguous_folds(n: int, k: int) -> list[dict[str, Tensor]]:
    """k-fold cross-validation over contiguous blocks: fold i tests block i, validates on the block
    before it (block k-1 for fold 0) and trains on the other k-2 blocks. Block sizes differ by at most one."""
    if not 3 <= k <= n:
        raise LayerlabError(f"contiguous k-fold needs 3 <= k <= number of rows ({n}) (a test, a validation "
                            f"and a training block), got k={k}")
    sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    starts = [sum(sizes[:i]) for i in range(k)]
    blocks = [torch.arange(start, start + size) for start, size in zip(starts, sizes)]
    folds = []
    for i in range(k):
        val = (i - 1) % k
        train = torch.cat([blocks[j] for j in range(k) if j not in (i, val)])
        folds.append({"train": train, "val": blocks[val], "test": blocks[i], "all": torch.arange(n)})
    return folds
