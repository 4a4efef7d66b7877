"""What a checkpoint holds and how `fit` gets back to it; plus the divergence guard.

A checkpoint is written after every epoch, atomically, and holds the model, optimizer,
scheduler, torch RNG state, epoch and history: with it, a killed run resumes and ends with the
same numbers as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from layerlab.engine.checkpoint import load_state, save_state, save_weights
from layerlab.engine.run import RunDir
from layerlab.errors import LayerlabError


class DivergenceError(LayerlabError):
    """The loss became NaN or infinite: training stops, the last good checkpoint stays."""


def check_finite(losses: list[Tensor], epoch: int, lr: float, first: int = 1) -> None:
    """Raise DivergenceError naming the first bad iteration among `losses`, the losses of
    iterations `first`, `first + 1`, ... of the epoch. One host sync for the whole list."""
    if not losses:
        return
    finite = torch.isfinite(torch.stack(losses))
    if bool(finite.all()):
        return
    bad = int((~finite).nonzero()[0, 0])
    raise DivergenceError(
        f"the loss became {losses[bad].item()} at epoch {epoch}, iteration {first + bad} with learning rate {lr:g}: "
        f"the learning rate is the likely cause; try a smaller --lr (the last checkpoint is kept)"
    )


def snapshot(run: RunDir, stage: str, model: nn.Module, optimizer: Optimizer, scheduler: Any,
             history: Any, stopper: Any) -> None:
    """Write weights, the trainer state and metrics.jsonl for the epoch that just ended."""
    epoch = history.epochs[-1]["epoch"]
    save_weights(model, run.weights_path(stage), metadata={"epoch": str(epoch), "stage": stage})
    state = {
        "epoch": epoch,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "history": history.epochs,
        "stopped_early": history.stopped_early,
        "early_stopping": {"best": stopper.best, "bad_epochs": stopper.bad_epochs,
                           "should_stop": stopper.should_stop, "best_state": stopper.best_state},
    }
    save_state(state, run.checkpoint_path(stage))
    others = [row for row in run.read_metrics() if row.get("stage", "main") != stage]
    run.write_metrics(others + [{"stage": stage, **row} for row in history.epochs])


def restore(run: RunDir, stage: str, model: nn.Module, optimizer: Optimizer, scheduler: Any,
            history: Any, stopper: Any) -> int:
    """Load the stage's checkpoint if there is one; returns the last finished epoch (0: none)."""
    path = run.checkpoint_path(stage)
    if not path.exists():
        return 0
    state = load_state(path)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    history.epochs = list(state["history"])
    history.stopped_early = state["stopped_early"]
    for key, value in state["early_stopping"].items():
        setattr(stopper, key, value)
    return int(state["epoch"])
