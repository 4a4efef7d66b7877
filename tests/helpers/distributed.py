"""Run a function in N gloo processes, as torchrun would start them (RANK, LOCAL_RANK, WORLD_SIZE,
MASTER_ADDR/PORT in each one's environment), so the test goes through layerlab's own set-up.

The workers live here, in an importable module, because torch.multiprocessing starts fresh
interpreters ("spawn") that import the function by name.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any, Callable

import torch
import torch.multiprocessing as mp
from torch import nn

from layerlab.data import BatchLoader, TensorData


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank: int, world: int, port: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    from layerlab.engine import distributed

    with distributed.session():
        fn(rank, *args)


def spawn(fn: Callable[..., Any], *args: Any, world: int = 2) -> None:
    """fn(rank, *args) in `world` processes; a failure in any of them fails the test."""
    mp.start_processes(_entry, args=(world, free_port(), fn, args), nprocs=world, join=True, start_method="spawn")


# --- the data and model the tests train ---------------------------------------------------------

def blobs(n: int, seed: int = 0) -> TensorData:
    """n points in 6 dimensions, 3 classes, learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    targets = torch.randint(0, 3, (n,), generator=g)
    inputs = torch.randn(n, 6, generator=g) + 2.0 * nn.functional.one_hot(targets, 6).float()
    return TensorData(inputs, targets, classes=("a", "b", "c"))


def mlp(batch_norm: bool = False) -> nn.Module:
    torch.manual_seed(0)
    layers: list[nn.Module] = [nn.Linear(6, 16)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(16))
    return nn.Sequential(*layers, nn.ReLU(), nn.Linear(16, 3))


TRAIN = dict(optimizer="sgd", lr=0.1, momentum=0.9, epochs=3, progress=False, seed=5)


def train_worker(rank: int, out: str, batch_size: int) -> None:
    """fit on 60 samples with `batch_size` per process; save the weights, the history and the
    metrics of an evaluation on 101 samples (shards of 51 and 50)."""
    from layerlab.engine import evaluate, fit

    model = mlp()
    history = fit(model, blobs(60), batch_size=batch_size, **TRAIN)
    scores = evaluate(model, blobs(101, seed=1), batch_size=16)
    torch.save({"state": model.state_dict(), "history": history.epochs, "scores": scores,
                "divergence": diverge()}, Path(out) / f"rank{rank}.pt")


def diverge() -> str:
    """One step on 4 samples, rank 1's holding a NaN: every process stops, with the same error type."""
    from layerlab.engine import fit
    from layerlab.engine.trainer_state import DivergenceError

    data = blobs(4)
    data.inputs[1, 0] = float("nan")              # position 1 of the unshuffled order: rank 1's shard
    loader = BatchLoader(data, 2, rank=int(os.environ["RANK"]), world_size=2, even_shards=True)
    try:
        fit(mlp(), loader, epochs=1, progress=False)
    except DivergenceError as error:
        return str(error)
    return "no error"


class Stop(Exception):
    """Raised in every process after epoch 2: a run killed between two checkpoints."""


def _stop_after_2(row: dict[str, Any]) -> None:
    if row["epoch"] == 2:
        raise Stop


def resume_worker(rank: int, out: str) -> None:
    """51 samples (padded to shards of 26), the same 4-epoch run twice: once straight through, once stopped after epoch 2 and resumed
    from the checkpoint; rank 1 works in its own empty folder, which must stay empty."""
    from layerlab.engine import distributed, fit
    from layerlab.engine.run import RunDir

    os.chdir(Path(out) / f"cwd{rank}")

    def run_folder(name: str) -> RunDir:
        made = RunDir.create(Path(out) / "runs", name, {}) if rank == 0 else None
        path = distributed.broadcast(str(made.path) if made else None)
        return made or RunDir.follower(path, {})

    options = dict(optimizer="adam", lr=0.01, schedule="one-cycle", epochs=4, batch_size=8, progress=False, seed=3)
    straight = mlp(batch_norm=True)
    fit(straight, blobs(51), val=blobs(21, seed=1), run=run_folder("straight"), **options)
    stopped = run_folder("stopped")
    try:
        fit(mlp(batch_norm=True), blobs(51), val=blobs(21, seed=1), run=stopped, log=_stop_after_2, **options)
    except Stop:
        pass
    resumed = mlp(batch_norm=True)
    history = fit(resumed, blobs(51), val=blobs(21, seed=1), run=stopped, **options)
    torch.save({"straight": straight.state_dict(), "resumed": resumed.state_dict(), "history": history.epochs},
               Path(out) / f"resume{rank}.pt")


class FreezingMLP(nn.Module):
    """mlp() whose first layer's bias learns in epoch 1 only (fit announces the epochs through
    set_epoch), as models/cifar_fast.py's stem bias does after its first epochs."""

    def __init__(self) -> None:
        super().__init__()
        self.net = mlp()

    def set_epoch(self, epoch: int) -> None:
        self.net[0].bias.requires_grad_(epoch <= 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def freeze_worker(rank: int, out: str) -> None:
    """3 epochs of FreezingMLP at 8 per process; the first bias after every epoch and the final weights."""
    from layerlab.engine import fit

    model = FreezingMLP()
    biases: list[torch.Tensor] = []
    fit(model, blobs(60), batch_size=8, log=lambda row: biases.append(model.net[0].bias.detach().clone()), **TRAIN)
    torch.save({"state": model.state_dict(), "biases": biases}, Path(out) / f"freeze{rank}.pt")
