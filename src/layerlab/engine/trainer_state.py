"""What a checkpoint holds and how `fit` gets back to it; early stopping; the divergence guard.

A checkpoint is written after every epoch, atomically, and holds every model, optimizer and
scheduler of the step, the torch RNG states, the epoch, the history and the early-stopping state:
with it, a killed run resumes and ends with the same numbers as an uninterrupted one. (The batch
order is not saved: every loader's order is a function of (seed, epoch).)
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from layerlab.engine import distributed
from layerlab.engine.checkpoint import load_state, save_state, save_weights
from layerlab.engine.run import RunDir
from layerlab.errors import LayerlabError


class DivergenceError(LayerlabError):
    """The loss became NaN or infinite: training stops, the last good checkpoint stays."""


def check_finite(losses: list[Tensor], epoch: int, lr: float, first: int = 1, per_step: int = 1) -> None:
    """Raise DivergenceError naming the first bad iteration among `losses`: `per_step` values for
    each of iterations `first`, `first + 1`, ... of the epoch. One host sync for the whole list."""
    if not losses:
        return
    finite = torch.isfinite(torch.stack([loss.float() for loss in losses]))
    if bool(finite.all()):
        return
    bad = int((~finite).nonzero()[0, 0])
    raise DivergenceError(
        f"the loss became {losses[bad].item()} at epoch {epoch}, iteration {first + bad // per_step} with learning "
        f"rate {lr:g}: the learning rate is the likely cause; try a smaller --lr (the last checkpoint is kept)"
    )


def _cpu_state(module: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


class EarlyStopping:
    """Stop after `patience` epochs without improvement of `monitor`; keep the best weights of every model.

    `higher_is_better` comes from the monitored metric's declaration (accuracy up, loss down).
    """

    def __init__(self, patience: int | None, monitor: str, higher_is_better: bool) -> None:
        if patience is not None and patience < 1:
            raise LayerlabError(f"patience must be at least 1 epoch, got {patience}")
        self.patience, self.monitor, self.higher_is_better = patience, monitor, higher_is_better
        self.best: float | None = None
        self.best_epoch = 0
        self.bad_epochs = 0
        self.best_state: dict[str, dict[str, Tensor]] | None = None
        self.should_stop = False

    def update(self, row: dict[str, Any], step: Any) -> bool:
        if self.patience is None:
            return False
        if self.monitor not in row:
            raise LayerlabError(f"early stopping monitors {self.monitor!r}, but the epoch reports only {sorted(row)}")
        value = row[self.monitor]
        better = self.best is None or (value > self.best if self.higher_is_better else value < self.best)
        if better:
            self.best, self.best_epoch, self.bad_epochs = value, row["epoch"], 0
            self.best_state = {name: _cpu_state(model) for name, model in step.models.items()}
        else:
            self.bad_epochs += 1
        self.should_stop = self.bad_epochs >= self.patience
        return self.should_stop

    def restore_best(self, step: Any) -> bool:
        """Put the best epoch's weights back (whether or not training stopped early); True if it did."""
        if self.patience is None or self.best_state is None:
            return False
        for name, model in step.models.items():
            model.load_state_dict(self.best_state[name])
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs,
                "should_stop": self.should_stop, "best_state": self.best_state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, copy.deepcopy(value))


def save_models(run: RunDir, stage: str, step: Any, metadata: dict[str, str]) -> None:
    """model.safetensors: the one model's weights, or every model's under its name ("generator.conv1.weight")."""
    models = step.models
    if len(models) == 1:
        save_weights(next(iter(models.values())), run.weights_path(stage), metadata=metadata)
    else:
        save_weights(nn.ModuleDict(models), run.weights_path(stage), metadata=metadata)


def snapshot(run: RunDir, stage: str, step: Any, schedulers: dict[str, Any], history: Any, stopper: EarlyStopping) -> None:
    """Write weights, the trainer state and metrics.jsonl for the epoch that just ended."""
    epoch = history.epochs[-1]["epoch"]
    save_models(run, stage, step, {"epoch": str(epoch), "stage": stage})
    state = {
        "epoch": epoch,
        "models": {name: _cpu_state(model) for name, model in step.models.items()},
        "optimizers": {name: opt.state_dict() for name, opt in step.optimizers.items()},
        "schedulers": {name: s.state_dict() for name, s in schedulers.items()},
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generators": {name: g.get_state() for name, g in step.generators.items()},
        "history": history.epochs,
        "stopped_early": history.stopped_early,
        "early_stopping": stopper.state_dict(),
    }
    save_state(state, run.checkpoint_path(stage))
    others = [row for row in run.read_metrics() if row.get("stage", "main") != stage]
    run.write_metrics(others + [{"stage": stage, **row} for row in history.epochs])


def save_best(run: RunDir, stage: str, step: Any, stopper: EarlyStopping) -> None:
    """After early stopping restored the best epoch's weights: the weights file holds them too."""
    save_models(run, stage, step, {"epoch": str(stopper.best_epoch), "stage": stage, "restored": "best"})


def restore(run: RunDir | None, stage: str, step: Any, schedulers: dict[str, Any], history: Any, stopper: EarlyStopping) -> int:
    """Load the stage's checkpoint if there is one; returns the last finished epoch (0: none).
    Under torchrun rank 0 reads it and sends it to the others (whose machines may not have the folder)."""
    path = run.checkpoint_path(stage) if run is not None else None
    state = distributed.broadcast(load_state(path) if distributed.is_main() and path and path.exists() else None)
    if state is None:
        return 0
    if "models" not in state or set(state["models"]) != set(step.models):
        raise LayerlabError(f"{path} holds models {sorted(state.get('models', {'model': 0}))}, but this step has "
                            f"{sorted(step.models)}: it was written by another layerlab version or another lab")
    for name, model in step.models.items():
        model.load_state_dict(state["models"][name])
    for name, opt in step.optimizers.items():
        opt.load_state_dict(state["optimizers"][name])
    for name, scheduler in schedulers.items():
        if name in state["schedulers"]:
            scheduler.load_state_dict(state["schedulers"][name])
    torch.set_rng_state(state["rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    for name, generator in step.generators.items():   # older checkpoints have none: the step's seed stands
        if name in state.get("generators", {}):
            generator.set_state(state["generators"][name])
    history.epochs = list(state["history"])
    history.stopped_early = state["stopped_early"]
    stopper.load_state_dict(state["early_stopping"])
    return int(state["epoch"])
