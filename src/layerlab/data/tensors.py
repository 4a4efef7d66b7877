"""In-memory datasets and a batch loader that slices shuffled indices.

Why not `torch.utils.data.DataLoader`? For data that fits in memory, a DataLoader builds every
batch one sample at a time in Python (`__getitem__` + collate). Indexing a whole tensor with a
batch of indices does the same work in one call, which is what makes small models fast on a CPU.
Images stay uint8 until the batch is formed; a batch transform turns them into floats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import torch
from torch import Tensor

from layerlab.errors import LayerlabError

Batch = tuple[Tensor, Tensor]
BatchTransform = Callable[[Tensor, Tensor, torch.Generator], Batch]


@dataclass
class TensorData:
    """A dataset held as two tensors: `inputs[i]` and its `targets[i]`.

    `classes` names the classes of a classification set; `meta` carries reader facts a lab may
    need (feature names, normalisation statistics, the source file).
    """

    inputs: Tensor
    targets: Tensor
    classes: tuple[str, ...] = ()
    name: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.inputs) != len(self.targets):
            raise LayerlabError(
                f"{self.name or 'dataset'}: {len(self.inputs)} inputs but {len(self.targets)} targets"
            )

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int | slice | Tensor) -> Batch:
        return self.inputs[index], self.targets[index]

    def subset(self, indices: Tensor) -> "TensorData":
        """The rows at `indices` (a view-free copy), keeping classes and meta."""
        return TensorData(self.inputs[indices], self.targets[indices], self.classes, self.name, dict(self.meta))

    @property
    def num_classes(self) -> int:
        return len(self.classes)


class BatchLoader:
    """Iterates a TensorData in batches: shuffle once per epoch, then slice.

    The order of epoch `e` depends only on `(seed, e)`, so a resumed run sees exactly the batches
    an uninterrupted run would (call `set_epoch` before iterating, as with DistributedSampler).
    `transform(inputs, targets, generator)` runs on the whole batch after it reaches `device`.
    """

    def __init__(
        self,
        data: TensorData,
        batch_size: int = 64,
        *,
        shuffle: bool = False,
        drop_last: bool = False,
        transform: BatchTransform | None = None,
        device: torch.device | str = "cpu",
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size < 1:
            raise LayerlabError(f"batch size must be a positive integer, got {batch_size}")
        self.data = data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.transform = transform
        self.device = torch.device(device)
        self.seed = seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _indices(self) -> Tensor:
        n = len(self.data)
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(n, generator=g)
        else:
            order = torch.arange(n)
        # each rank of a distributed run reads every world_size-th sample of the same order
        return order[self.rank :: self.world_size]

    def __len__(self) -> int:
        n = len(self._indices()) if self.world_size > 1 else len(self.data)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        order = self._indices()
        g = torch.Generator().manual_seed(self.seed * 7_919 + self.epoch + 1)  # augmentation draws
        stop = len(order) - (len(order) % self.batch_size if self.drop_last else 0)
        non_blocking = self.device.type == "cuda"
        # the targets are small: one gather for the whole epoch, then each batch's are a slice of it
        epoch_targets = torch.index_select(self.data.targets, 0, order[:stop]).to(self.device, non_blocking=non_blocking)
        for start in range(0, stop, self.batch_size):
            idx = order[start : start + self.batch_size]
            # index_select, not inputs[idx]: the same gather without advanced indexing's general
            # machinery, many times cheaper per batch on a CPU (benchmarks/fit_vs_hand.py)
            inputs = torch.index_select(self.data.inputs, 0, idx).to(self.device, non_blocking=non_blocking)
            targets = epoch_targets[start : start + self.batch_size]
            if self.transform is not None:
                inputs, targets = self.transform(inputs, targets, g)
            yield inputs, targets


def select_classes(data: TensorData, classes: Sequence[str], per_class: int = 0, seed: int = 0) -> TensorData:
    """The samples of `classes` (names), relabelled 0..len-1 in that order; `per_class` > 0 keeps
    that many of each, drawn with `seed`. Transfer learning's "2 new classes from 10"."""
    missing = [name for name in classes if name not in data.classes]
    if missing:
        raise LayerlabError(f"{data.name or 'the dataset'} has no class {missing[0]!r}; its classes: {', '.join(data.classes)}")
    g = torch.Generator().manual_seed(seed)
    chosen, labels = [], []
    for new, name in enumerate(classes):
        rows = (data.targets == data.classes.index(name)).nonzero().flatten()
        if per_class:
            rows = rows[torch.randperm(len(rows), generator=g)[:per_class]]
        chosen.append(rows)
        labels.append(torch.full((len(rows),), new, dtype=data.targets.dtype))
    rows = torch.cat(chosen)
    return TensorData(data.inputs[rows], torch.cat(labels), tuple(classes), data.name, dict(data.meta))
