"""Several processes training one model: PyTorch's DDP, started by `torchrun`.

This is the only module that reads torchrun's environment (RANK, LOCAL_RANK, WORLD_SIZE; the
rendezvous address MASTER_ADDR/MASTER_PORT is read by torch.distributed itself). Everything else
asks it: `world_size()`, `rank()`, `is_main()`.

    torchrun --nproc-per-node 2 -m layerlab run mnist-mlp ...   # or: layerlab run mnist-mlp --nproc 2

How a run on N processes works (the engine's side is in engine/loop.py):
- `session()` joins the process group: gloo for CPU tensors, and NCCL for CUDA tensors when the
  machine has GPUs ("cpu:gloo,cuda:nccl"), each process on its own GPU (cuda:LOCAL_RANK).
- Every process builds the same model from the same seed; `wrap` puts it in DistributedDataParallel
  (SyncBatchNorm first, on GPUs only: it has no CPU kernels, so on CPU each process's batch norm
  normalises its own part of the batch), which averages the gradients after every backward.
- Each process reads its own shard of every epoch (data/tensors.py: BatchLoader's `rank`,
  `world_size`, `even_shards`); `--batch-size` is per process, so one step sees N x batch images.
- Metric sums are added over the processes with one all-reduce per pass (`reduce_sums`).
- Only rank 0 writes: the run folder, checkpoints, figures, progress and printed results.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import subprocess
import sys
from typing import Any, Iterator, Sequence

import torch
import torch.distributed as dist
from torch import Tensor, nn

from layerlab.errors import LayerlabError

TIMEOUT = datetime.timedelta(minutes=10)   # a collective that waits longer than this is a hang: fail loudly


def launched() -> bool:
    """True in a process that torchrun started (it sets RANK and WORLD_SIZE for every worker)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def _env_int(name: str) -> int:
    try:
        return int(os.environ[name])
    except (KeyError, ValueError):
        raise LayerlabError(f"torchrun should have set {name} to a whole number, but it is "
                            f"{os.environ.get(name)!r}: start the run with torchrun or --nproc N") from None


def setup() -> bool:
    """Join torchrun's process group, once; True if this call joined it (then `teardown` leaves it).
    Outside torchrun, or with one process, it does nothing: the run is an ordinary one."""
    if not launched() or dist.is_initialized() or _env_int("WORLD_SIZE") < 2:
        return False
    backend = "gloo"
    if torch.cuda.is_available():
        local_rank = _env_int("LOCAL_RANK")
        if local_rank >= torch.cuda.device_count():
            raise LayerlabError(f"local rank {local_rank} has no GPU of its own (this machine has "
                                f"{torch.cuda.device_count()}): start at most that many processes per node")
        torch.cuda.set_device(local_rank)   # "cuda" now means this process's GPU
        backend = "cpu:gloo,cuda:nccl"
    dist.init_process_group(backend, rank=_env_int("RANK"), world_size=_env_int("WORLD_SIZE"), timeout=TIMEOUT)
    return True


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def session() -> Iterator[None]:
    """`with session():` joins torchrun's process group for the block (nothing outside torchrun)."""
    joined = setup()
    try:
        yield
    finally:
        if joined:
            teardown()


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    """Rank 0, the one process that writes files and prints (True in an ordinary run)."""
    return rank() == 0


def place(device: torch.device) -> torch.device:
    """This process's own device: cuda -> cuda:LOCAL_RANK (set by `setup`), anything else as it is."""
    if device.type == "cuda" and device.index is None and world_size() > 1:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def wrap(model: nn.Module) -> nn.Module:
    """`model` inside DistributedDataParallel, for the forward pass of training; the model itself
    (what the step's `models` hold, what checkpoints save: no `module.` prefix) is unchanged
    except that on a GPU its BatchNorm layers become SyncBatchNorm (same parameters and buffers)."""
    device = next(model.parameters()).device
    # a model that hears the epoch (set_epoch) may stop training a parameter midway: DDP must then look
    # for the parameters without gradients every step instead of waiting for them
    changes = hasattr(model, "set_epoch")
    if device.type == "cuda":
        for name, child in list(model.named_children()):   # in place: the step and the lab keep their object
            model.add_module(name, nn.SyncBatchNorm.convert_sync_batchnorm(child))
        return nn.parallel.DistributedDataParallel(model, device_ids=[device.index], find_unused_parameters=changes)
    return nn.parallel.DistributedDataParallel(model, find_unused_parameters=changes)


def reduce_sums(sums: Tensor) -> Tensor:
    """The element-wise sum of `sums` over every process (a copy; the input is unchanged)."""
    total = sums.clone()
    if world_size() > 1:
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


def any_process(flag: bool) -> bool:
    """True on every process if `flag` is True on any: decisions that must be the same everywhere."""
    if world_size() == 1:
        return flag
    return bool(reduce_sums(torch.tensor([float(flag)]))[0] > 0)


def broadcast(obj: Any) -> Any:
    """Rank 0's `obj` on every process (pickled: paths, configs, a checkpoint read on rank 0)."""
    if world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sync_buffers(models: dict[str, nn.Module]) -> None:
    """Rank 0's buffers (batch norm's running statistics) on every process, so that evaluation and
    checkpoints see one model: on CPU each process's plain BatchNorm updated them from its own batches."""
    if world_size() == 1:
        return
    for model in models.values():
        for buffer in model.buffers():
            dist.broadcast(buffer.data, src=0)


def launch(nproc: int, argv: Sequence[str]) -> int:
    """`layerlab run LAB --nproc N`: the same command under torchrun on N local processes, a free
    port chosen by torchrun (--standalone); returns its exit status."""
    if nproc < 1:
        raise LayerlabError(f"--nproc must be at least 1, got {nproc}")
    if launched():
        raise LayerlabError("--nproc starts torchrun, but this process is already one of torchrun's: drop --nproc")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "layerlab", *argv]
    return subprocess.call(command)
