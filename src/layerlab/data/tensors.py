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

# What a batch may hold. Inputs: one tensor, or several (a tuple or dict of tensors sharing dim 0).
# Targets: (a) one tensor, class ids (N,) or values (N, ...); (b) a dict of tensors sharing dim 0,
# e.g. {"mask": (N, H, W), "lengths": (N,)}; (c) a list of per-sample dicts whose tensors differ in
# size, e.g. detection's {"boxes": (K, 4) float xyxy pixels, "labels": (K,) long}.
Inputs = Tensor | tuple[Tensor, ...] | dict[str, Tensor]
Targets = Tensor | dict[str, Tensor] | list[dict[str, Tensor]]
Batch = tuple[Inputs, Targets]
BatchTransform = Callable[[Inputs, Targets, torch.Generator], Batch]
Collate = Callable[[Inputs, Targets], Batch]
Index = int | slice | Tensor


def tell_epoch(transform: Any, epoch: int) -> None:
    """Tell a transform which epoch starts, if it wants to know (a `Ramp`, or a `compose` holding one):
    loaders call this from their own set_epoch, so a resumed run transforms its epochs exactly as an
    uninterrupted one does."""
    if transform is not None and hasattr(transform, "set_epoch"):
        transform.set_epoch(epoch)


PIN_MEMORY = True   # host_to_device pins CPU tensors bound for a GPU; False: plain copies (benchmarks compare)


def host_to_device(tensor: Tensor, device: torch.device | str, non_blocking: bool = False) -> Tensor:
    """`tensor` on `device`; a CPU tensor bound for a CUDA GPU goes through pinned memory.

    A copy from ordinary (pageable) CPU memory to a GPU makes the CPU wait until the GPU has run
    everything queued before it (torch synchronises the stream), so the CPU cannot gather the next
    batch, draw its augmentation and launch its kernels while the GPU computes this step. Copied
    into pinned memory first (one CPU memcpy), the transfer is queued on the stream like a kernel and
    the CPU goes on; torch's pinned-memory cache keeps the buffer until the transfer has run. This
    is what DataLoader(pin_memory=True) + non_blocking does. Anywhere else: `tensor.to(device)`.
    """
    device = torch.device(device)
    if PIN_MEMORY and device.type == "cuda" and tensor.device.type == "cpu":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device, non_blocking=non_blocking)


def to_device(obj: Any, device: torch.device | str, non_blocking: bool = False) -> Any:
    """`obj` with every tensor in it moved to `device` (`host_to_device`): a Tensor, or a tuple, list
    or dict of them, nested to any depth. Anything else (a string, a number, None) comes back as it is."""
    if isinstance(obj, Tensor):
        return host_to_device(obj, device, non_blocking)
    if isinstance(obj, dict):
        return {key: to_device(value, device, non_blocking) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(value, device, non_blocking) for value in obj)
    return obj


def take(obj: Inputs | Targets, index: Index) -> Any:
    """The samples at `index` (an int, a slice, or a tensor of row ids or a boolean mask) of a
    tensor, a tuple/dict of tensors (dim 0 of each), or a list of per-sample dicts."""
    if isinstance(obj, Tensor):
        if isinstance(index, Tensor) and index.dtype == torch.long and index.dim() == 1:
            # index_select, not obj[idx]: the same gather without advanced indexing's general
            # machinery, many times cheaper per batch on a CPU (benchmarks/fit_vs_hand.py)
            return torch.index_select(obj, 0, index)
        return obj[index]
    if isinstance(obj, dict):
        return {key: take(value, index) for key, value in obj.items()}
    if isinstance(obj, tuple):
        return tuple(take(value, index) for value in obj)
    if isinstance(index, Tensor):
        rows = index.nonzero().flatten() if index.dtype == torch.bool else index.flatten()
        return [obj[i] for i in rows.tolist()]
    return obj[index]


def num_samples(obj: Inputs | Targets, what: str = "inputs") -> int:
    """N, the number of samples in `obj`; every tensor of a tuple or dict must have N rows."""
    if isinstance(obj, Tensor):
        return len(obj)
    if isinstance(obj, list):
        if not all(isinstance(item, dict) for item in obj):
            raise LayerlabError(f"list {what} must hold one dict of tensors per sample (e.g. boxes and labels)")
        return len(obj)
    if isinstance(obj, (tuple, dict)) and len(obj) > 0:
        parts = obj.items() if isinstance(obj, dict) else enumerate(obj)
        sizes = {key: len(value) for key, value in parts}
        first = next(iter(sizes.values()))
        for key, size in sizes.items():
            if size != first:
                raise LayerlabError(f"{what}[{key!r}] has {size} rows but {what} hold {first} samples; "
                                    "every tensor needs one row per sample")
        return first
    raise LayerlabError(f"{what} must be a tensor, a tuple or dict of tensors, or a list of dicts; "
                        f"got {type(obj).__name__}")


def _describe(value: Any) -> str:
    """A tensor as dtype and shape, a tuple or dict of them item by item, a list by its length."""
    if isinstance(value, Tensor):
        return f"{str(value.dtype).removeprefix('torch.')} {tuple(value.shape)}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_describe(v)}" for k, v in value.items()) + "}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_describe(v) for v in value) + ")"
    return f"{type(value).__name__} of {len(value)}"


@dataclass
class TensorData:
    """A dataset held in memory: `inputs[i]` and its `targets[i]` (see `Inputs` and `Targets`).

    `classes` names the classes of a classification set; `meta` carries reader facts a lab may
    need (feature names, normalisation statistics, the source file).
    """

    inputs: Inputs
    targets: Targets
    classes: tuple[str, ...] = ()
    name: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n_inputs, n_targets = num_samples(self.inputs), num_samples(self.targets, "targets")
        if n_inputs != n_targets:
            raise LayerlabError(f"{self.name or 'dataset'}: {n_inputs} inputs but {n_targets} targets")

    def __len__(self) -> int:
        return num_samples(self.inputs)

    def __repr__(self) -> str:
        """One line, never the tensors' values: TensorData('mnist', 60,000 examples, inputs uint8
        (60000, 1, 28, 28), targets int64 (60000,), 10 classes)."""
        parts = [repr(self.name), f"{len(self):,} examples", f"inputs {_describe(self.inputs)}",
                 f"targets {_describe(self.targets)}"]
        if self.classes:
            parts.append(f"{len(self.classes)} classes")
        return f"TensorData({', '.join(parts)})"

    def __getitem__(self, index: Index) -> Batch:
        return take(self.inputs, index), take(self.targets, index)

    def subset(self, indices: Tensor | slice) -> "TensorData":
        """The rows at `indices` (a view-free copy), keeping classes and meta (per-sample entries such
        as `meta["files"]` follow their rows)."""
        return TensorData(take(self.inputs, indices), take(self.targets, indices), self.classes, self.name,
                          rows_meta(self.meta, len(self), indices))

    @property
    def num_classes(self) -> int:
        return len(self.classes)


PER_SAMPLE_META = ("files",)   # meta entries with one item per sample: they follow their rows


def rows_meta(meta: dict[str, Any], length: int, indices: Tensor | slice) -> dict[str, Any]:
    """A copy of `meta` for the rows at `indices`: per-sample entries are taken row by row."""
    out = dict(meta)
    for key in PER_SAMPLE_META:
        values = meta.get(key)
        if isinstance(values, (tuple, list)) and len(values) == length:
            if isinstance(indices, slice):
                rows = list(range(length)[indices])
            else:
                index = torch.as_tensor(indices)
                rows = (index.nonzero().flatten() if index.dtype == torch.bool else index.flatten()).tolist()
            out[key] = tuple(values[i] for i in rows)
    return out


class BatchLoader:
    """Iterates a TensorData in batches: shuffle once per epoch, then slice.

    The order of epoch `e` depends only on `(seed, e)`, so a resumed run sees exactly the batches
    an uninterrupted run would (call `set_epoch` before iterating, as with DistributedSampler).
    Each batch is gathered on the CPU, passed to `collate(inputs, targets)` if given (e.g. to pad
    variable-length sequences into one tensor), moved to `device` (every tensor of a tuple, dict or
    list of dicts), and then `transform(inputs, targets, generator)` runs on the whole batch there.

    With `world_size` > 1, process `rank` reads every world_size-th sample of the epoch's order
    (rank r: positions r, r + W, r + 2W, ...), so batch k of all the processes together is batch k
    of one process with a W times larger batch. The shards are disjoint and cover the data, and
    differ by at most one sample: right for evaluation, which must count every sample once. For
    training, `even_shards` pads the order to a multiple of W by repeating its first samples (as
    torch's DistributedSampler does): every process then runs exactly as many steps as the others
    (none waits forever for a partner's gradients), every sample is read each epoch, and at most
    W - 1 are read twice. Augmentation draws differ between ranks (rank 0's are a single process's).
    """

    def __init__(
        self,
        data: TensorData,
        batch_size: int = 64,
        *,
        shuffle: bool = False,
        drop_last: bool = False,
        transform: BatchTransform | None = None,
        collate: Collate | None = None,
        device: torch.device | str = "cpu",
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        even_shards: bool = False,
    ) -> None:
        if batch_size < 1:
            raise LayerlabError(f"batch size must be a positive integer, got {batch_size}")
        self.data = data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.transform = transform
        self.collate = collate
        self.device = torch.device(device)
        self.non_blocking = self.device.type == "cuda"  # copies overlap compute; only a GPU has async copies
        self.seed = seed
        if not 0 <= rank < world_size:
            raise LayerlabError(f"rank must be in 0..{world_size - 1} for {world_size} processes, got {rank}")
        self.rank, self.world_size, self.even_shards = rank, world_size, even_shards
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        tell_epoch(self.transform, epoch)

    def _indices(self) -> Tensor:
        n = len(self.data)
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(n, generator=g)
        else:
            order = torch.arange(n)
        if self.even_shards and n % self.world_size:   # pad with the order's first samples: equal shards
            pad = self.world_size - n % self.world_size
            order = torch.cat([order, order.repeat(-(-pad // n))[:pad]])   # repeat it whole if it is shorter than pad
        # each rank of a distributed run reads every world_size-th sample of the same order
        return order[self.rank :: self.world_size]

    def shard_size(self) -> int:
        """How many samples this rank reads per epoch (as `_indices` slices them)."""
        n = len(self.data)
        if self.even_shards:
            return -(-n // self.world_size)
        return len(range(self.rank, n, self.world_size))

    def __len__(self) -> int:
        n = self.shard_size()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        order = self._indices()
        # augmentation draws: rank 0's are a single process's; the other ranks crop and flip otherwise
        g = torch.Generator().manual_seed(self.seed * 7_919 + self.epoch + 1 + self.rank * 1_000_003)
        stop = len(order) - (len(order) % self.batch_size if self.drop_last else 0)
        plain = isinstance(self.data.inputs, Tensor) and isinstance(self.data.targets, Tensor)
        if plain and self.collate is None:
            yield from self._tensor_batches(order, stop, g)
        else:
            yield from self._structured_batches(order, stop, g)

    def _tensor_batches(self, order: Tensor, stop: int, g: torch.Generator) -> Iterator[Batch]:
        """The fast path for one input tensor and one target tensor (benchmarks/fit_vs_hand.py)."""
        # the targets are small: one gather for the whole epoch, then each batch's are a slice of it
        epoch_targets = host_to_device(torch.index_select(self.data.targets, 0, order[:stop]), self.device, self.non_blocking)
        for start in range(0, stop, self.batch_size):
            idx = order[start : start + self.batch_size]
            # index_select, not inputs[idx]: see `take`
            inputs = host_to_device(torch.index_select(self.data.inputs, 0, idx), self.device, self.non_blocking)
            targets = epoch_targets[start : start + self.batch_size]
            if self.transform is not None:
                inputs, targets = self.transform(inputs, targets, g)
            yield inputs, targets

    def _structured_batches(self, order: Tensor, stop: int, g: torch.Generator) -> Iterator[Batch]:
        """Tuples or dicts of tensors, lists of per-sample dicts, or a collate step: gathered per batch."""
        for start in range(0, stop, self.batch_size):
            idx = order[start : start + self.batch_size]
            inputs, targets = take(self.data.inputs, idx), take(self.data.targets, idx)
            if self.collate is not None:
                inputs, targets = self.collate(inputs, targets)
            inputs, targets = to_device(inputs, self.device, self.non_blocking), to_device(targets, self.device, self.non_blocking)
            if self.transform is not None:
                inputs, targets = self.transform(inputs, targets, g)
            yield inputs, targets


def select_classes(data: TensorData, classes: Sequence[str], per_class: int = 0, seed: int = 0) -> TensorData:
    """The samples of `classes` (names), relabelled 0..len-1 in that order; `per_class` > 0 keeps
    that many of each, drawn with `seed`. Transfer learning's "2 new classes from 10"."""
    if not isinstance(data.targets, Tensor):
        raise LayerlabError(f"select_classes needs class-id targets (one tensor); {data.name or 'the dataset'} "
                            f"holds {type(data.targets).__name__} targets")
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
    return TensorData(data.inputs[rows], torch.cat(labels), tuple(classes), data.name, rows_meta(data.meta, len(data), rows))


def balanced_subset(data: TensorData, size: int, seed: int = 0) -> TensorData:
    """`size` samples, size // classes of each class, drawn with `seed` (a CPU-sized slice of a big set);
    0, or at least the whole set, keeps all of it. Labels keep their meaning."""
    if size <= 0 or size >= len(data):
        return data
    return select_classes(data, data.classes, per_class=max(1, size // len(data.classes)), seed=seed)
