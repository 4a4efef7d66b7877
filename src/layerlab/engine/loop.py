"""The training loop: Data -> Model -> logits -> Loss -> gradients -> Optimizer -> Model.

`fit` repeats a step (engine/step.py; `train_step` is the course diagram in code) over batches
(iterations) and epochs. Everything else it does (device moves, schedules, checkpoints, early
stopping, the divergence guard, progress) wraps the step from outside. tests/engine/test_loop.py
proves `fit` trains exactly like a hand-written loop.

Under torchrun (engine/distributed.py) the same `fit` runs in every process: the step trains
through DistributedDataParallel, each process reads its own equal-length shard of every epoch,
metric sums are added over the processes before they are logged (the whole dataset's figures), and
only rank 0 draws progress and writes checkpoints. tests/engine/test_distributed.py checks it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from layerlab.data.tensors import BatchLoader, BatchTransform, TensorData, tell_epoch, to_device
from layerlab.data.transforms import dataset_transform
from layerlab.engine import distributed
from layerlab.engine.metrics import Metric, Metrics
from layerlab.engine.optim import get_schedule
from layerlab.engine.progress import EpochProgress
from layerlab.engine.run import RunDir, select_device
from layerlab.engine.step import Step, Supervised, autocast, train_step
from layerlab.engine.trainer_state import DivergenceError, EarlyStopping, check_finite, restore, save_best, snapshot
from layerlab.errors import LayerlabError

__all__ = ["History", "evaluate", "fit", "predict", "train_step"]

CHECK_EVERY = 256   # steps between divergence checks when no progress bar reads the loss (one sync each)


@dataclass
class History:
    """Per-epoch metrics of one `fit`: `history.epochs[-1]["val_accuracy"]`, `history.series("train_loss")`.

    `lr` in a row is the learning rate at the epoch's end (after its last step); `higher_is_better`
    says, for each metric name, which way is better (declared by the metric objects).
    """

    epochs: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False
    higher_is_better: dict[str, bool] = field(default_factory=dict)

    def series(self, key: str) -> list[float]:
        return [row[key] for row in self.epochs if key in row]

    @property
    def last(self) -> dict[str, Any]:
        return self.epochs[-1] if self.epochs else {}

    def __len__(self) -> int:
        return len(self.epochs)


def fit(
    model: nn.Module | Step, train: TensorData | Iterable[Any], *, val: TensorData | Iterable[Any] | None = None,
    val_name: str = "val", loss: str | nn.Module | None = None, optimizer: str | Optimizer | None = None, lr: float | None = None,
    momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0, metrics: dict[str, Metric] | None = None,
    epochs: int = 1, batch_size: int = 64, schedule: str | None = None, clip_grad_norm: float | None = None,
    patience: int | None = None, monitor: str = "val_loss", device: str = "auto", amp: bool = False,
    channels_last: bool = False, compile: bool = False, seed: int = 0, progress: bool = True,
    transform: BatchTransform | None = None, eval_transform: BatchTransform | None = None,
    run: RunDir | None = None, stage: str = "main", log: Callable[[dict[str, Any]], None] | None = None,
) -> History:
    """Train for `epochs` passes over `train`; returns the per-epoch History.

    `model` is an nn.Module (trained by `Supervised` with `loss`, `optimizer`, `lr`, ...: defaults
    cross-entropy and plain SGD at 0.1, as by hand) or a Step that owns its models and optimizers.
    `schedule` (step | multistep | warmup-multistep | cosine | one-cycle) steps every iteration; `patience` stops after that many
    epochs without improving `monitor` and restores the best weights. `val` is scored after every
    epoch under `val_name` ("val_loss", ...); a held-out test set that is only watched, never used
    to choose anything, is honestly named "test". Images a reader left as uint8 are converted
    and normalised with the statistics in `train.meta` (layerlab.data.transforms.dataset_transform,
    for `val` too) unless `transform` / `eval_transform` say otherwise. With `run`, every epoch ends
    with an atomic checkpoint, and a run folder holding one continues from it (`layerlab resume`).
    Under torchrun, `batch_size` is per process and `log` is called in every process.
    """
    if epochs < 0:
        raise LayerlabError(f"epochs must be >= 0, got {epochs}")
    where = distributed.place(select_device(device))
    step = _as_step(model, where, loss=loss, optimizer=optimizer, lr=lr, momentum=momentum, nesterov=nesterov,
                    weight_decay=weight_decay, metrics=metrics, clip_grad_norm=clip_grad_norm, amp=amp,
                    channels_last=channels_last, compile=compile)
    if distributed.world_size() > 1:
        step.distribute(distributed.wrap)        # gradients averaged over the processes after every backward
    if transform is None:
        transform = dataset_transform(train)
    if eval_transform is None:
        eval_transform = dataset_transform(val, stats_of=train)
    loader = _as_loader(train, batch_size, where, transform, shuffle=True, seed=seed, training=True)
    if schedule is not None and not _has_length(loader):
        raise LayerlabError(f"schedule {schedule!r} steps every iteration and needs the number of batches per epoch, "
                            "but this training data has no len(): pass a TensorData, a list or a DataLoader, or no schedule")
    schedulers = {name: s for name, opt in step.optimizers.items()
                  if (s := get_schedule(schedule, opt, _length(loader), epochs)) is not None}
    directions = {name: m.higher_is_better for name, m in step.metrics().metrics.items()}
    history = History(higher_is_better=directions)
    stopper = EarlyStopping(patience, monitor, _direction(monitor, directions, patience))
    # every process takes part in restoring (rank 0 reads the checkpoint and sends it), run or not
    start = restore(run, stage, step, schedulers, history, stopper) if run or distributed.world_size() > 1 else 0
    writes = run is not None and distributed.is_main()    # rank 0 alone writes the run folder
    for epoch in range(start + 1, epochs + 1):
        if stopper.should_stop:
            break
        row, bar = _train_epoch(step, loader, schedulers, epoch, epochs, progress and distributed.is_main())
        distributed.sync_buffers(step.models)    # one model everywhere: rank 0's batch-norm statistics
        if val is not None:
            row.update(evaluate(step, val, batch_size=max(batch_size, 512), transform=eval_transform, prefix=f"{val_name}_"))
        bar.close(row)
        history.stopped_early = stopper.update(row, step)
        history.epochs.append(row)
        if writes:
            snapshot(run, stage, step, schedulers, history, stopper)
        if log is not None:
            log(row)
    if stopper.restore_best(step) and writes:
        save_best(run, stage, step, stopper)     # model.safetensors holds the weights the lab reports
    return history


def _as_step(model: nn.Module | Step, where: torch.device, *, loss: Any, optimizer: Any, lr: float | None, momentum: float,
             nesterov: bool, weight_decay: float, metrics: Any, clip_grad_norm: float | None, amp: bool,
             channels_last: bool, compile: bool) -> Step:
    """The step fit trains, on `where`: a Step as given (its options are its own), or Supervised around a model."""
    if isinstance(model, Step):
        given = [name for name, value in (("loss", loss), ("optimizer", optimizer), ("lr", lr), ("metrics", metrics),
                                          ("clip_grad_norm", clip_grad_norm)) if value is not None]
        if given or compile or amp or momentum or nesterov or weight_decay:
            raise LayerlabError(f"a {type(model).__name__} step owns its loss, optimizer and precision: set "
                                f"{', '.join(given) or 'them'} when you build the step, not in fit()")
        return model.to(where, channels_last=channels_last)
    if isinstance(model, nn.Module):
        model.to(where, memory_format=torch.channels_last) if channels_last else model.to(where)
        given = {name: value for name, value in (("loss", loss), ("optimizer", optimizer), ("lr", lr)) if value is not None}
        return Supervised(model, **given, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,  # the rest: its defaults
                          metrics=metrics, clip_grad_norm=clip_grad_norm, amp=amp, channels_last=channels_last, compile=compile)
    raise LayerlabError(f"fit trains an nn.Module or a Step, got {type(model).__name__}")


def _train_epoch(step: Step, loader: Any, schedulers: dict[str, Any], epoch: int, epochs: int,
                 progress: bool) -> tuple[dict[str, Any], EpochProgress]:
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)                  # the batch order is a function of (seed, epoch): resumable
    for model in step.models.values():           # a model that changes with the epoch (models/cifar_fast.py's
        tell_epoch(model, epoch)                 # stem) hears it too, so a resumed run changes at the same epoch
    step.train_mode()
    metrics = step.metrics()
    bar = EpochProgress(epoch, epochs, _length(loader), enabled=progress)
    keys, live, lr = step.loss_keys, bar.live, _lr(step)
    alone = distributed.world_size() == 1        # several processes stop together, at the agreed checks below
    watched: list[Tensor] = []                   # the losses since the last divergence check
    checked = iteration = 0
    for iteration, batch in enumerate(loader, start=1):
        values = step.train(batch)               # one iteration: Data -> Model -> Loss -> Optimizer
        for scheduler in schedulers.values():
            scheduler.step()
        metrics.update(values)
        watched.extend(values[key] for key in keys)
        if live and bar.due():                   # a few syncs per second at most
            value = values[keys[0]].item()
            bar.draw(iteration, value)
            if not math.isfinite(value) and alone:
                check_finite(watched, epoch, lr, first=checked + 1, per_step=len(keys))
        if iteration - checked >= CHECK_EVERY:
            _agreed_check(watched, epoch, lr, first=checked + 1, per_step=len(keys))
            watched, checked = [], iteration
    if iteration == 0:
        raise LayerlabError("the training data produced no batches (is it empty, or smaller than one batch with drop_last?)")
    _agreed_check(watched, epoch, lr, first=checked + 1, per_step=len(keys))
    step.end_epoch()                             # the step's once-an-epoch work, in the epoch's seconds and checkpoint
    _total(metrics, _sharded(loader))
    return {"epoch": epoch, **metrics.compute("train_"), "lr": _lr(step), "seconds": round(bar.elapsed(), 3)}, bar


def _agreed_check(losses: list[Tensor], epoch: int, lr: float, *, first: int, per_step: int) -> None:
    """The divergence guard, decided by all the processes together: all of them stop, or none does
    (a process that stopped alone would leave the others waiting for its gradients)."""
    if distributed.world_size() == 1:
        check_finite(losses, epoch, lr, first=first, per_step=per_step)
        return
    finite = not losses or bool(torch.isfinite(torch.stack([loss.float() for loss in losses])).all())
    if distributed.any_process(not finite):
        check_finite(losses, epoch, lr, first=first, per_step=per_step)   # this process saw it: say where
        raise DivergenceError(f"the loss became NaN or infinite in another process at epoch {epoch} (iterations "
                              f"{first}..{first + len(losses) // per_step - 1}) with learning rate {lr:g}: try a "
                              "smaller --lr (the last checkpoint is kept)")


def _total(metrics: Metrics, sharded: bool) -> Metrics:
    """Each process measured its shard: add up the sums of all of them (one all-reduce), so the
    figures are the whole dataset's."""
    if sharded:
        metrics.load_sums(distributed.reduce_sums(metrics.sums()))
    return metrics


@torch.no_grad()
def evaluate(
    model: nn.Module | Step, data: TensorData | Iterable[Any], *, loss: str | nn.Module = "cross_entropy",
    metrics: dict[str, Metric] | None = None, batch_size: int = 1024, device: torch.device | str | None = None,
    transform: BatchTransform | None = None, amp: bool = False, prefix: str = "",
) -> dict[str, float]:
    """The loss and metrics over a dataset: the loss's own metrics (accuracy by argmax, RMSE/MAE, ...)
    unless `metrics` names others; a Step is scored by its own `evaluate` and `metrics`. uint8
    images are converted as `fit` converts them unless `transform` is given. Under torchrun every
    process scores its disjoint shard of a TensorData and the sums are added: each sample counts once."""
    transform = dataset_transform(data) if transform is None else transform
    step = model if isinstance(model, Step) else Supervised(model, loss=loss, optimizer=None, metrics=metrics, amp=amp)
    where = torch.device(device) if device is not None else step.device
    results = step.metrics()
    was_training = {name: m.training for name, m in step.models.items()}
    step.train_mode(False)
    loader = _as_loader(data, batch_size, where, transform, shuffle=False, seed=0)
    try:
        for batch in loader:
            results.update(step.evaluate(batch))
    finally:
        for name, m in step.models.items():
            m.train(was_training[name])
    return _total(results, _sharded(loader)).compute(prefix)


@torch.no_grad()
def predict(
    model: nn.Module, data: TensorData | Iterable[Any], *, batch_size: int = 1024, device: torch.device | str | None = None,
    transform: BatchTransform | None = None, amp: bool = False,
) -> tuple[Tensor, Tensor]:
    """Model outputs and targets for a whole dataset, in order, on the CPU (uint8 images converted
    as `fit` converts them unless `transform` is given)."""
    transform = dataset_transform(data) if transform is None else transform
    where = torch.device(device) if device is not None else _device_of(model)
    outputs, targets = [], []
    was_training = model.training
    model.eval()
    try:
        for inputs, batch_targets in _as_loader(data, batch_size, where, transform, shuffle=False, seed=0):
            with autocast(where, amp):
                outputs.append(model(inputs).float().cpu())
            targets.append(batch_targets.cpu())
    finally:
        model.train(was_training)
    return torch.cat(outputs), torch.cat(targets)


def evaluate_and_predict(
    model: nn.Module, data: TensorData, *, loss: str | nn.Module = "cross_entropy", transform: BatchTransform | None = None,
    amp: bool = False, prefix: str = "", batch_size: int = 1024,
) -> tuple[dict[str, float], tuple[Tensor, Tensor]]:
    """`evaluate` and `predict` with the model run once: the scores are computed from the outputs (a
    six-view test-time average costs one pass, not two). Under torchrun `predict` holds this process's
    share only, so there the scores come from `evaluate`'s all-reduced sums instead."""
    predicted = predict(model, data, transform=transform, amp=amp, batch_size=batch_size)
    if distributed.world_size() == 1:
        return evaluate(nn.Identity(), TensorData(*predicted), loss=loss, prefix=prefix), predicted
    return evaluate(model, data, loss=loss, transform=transform, amp=amp, prefix=prefix, batch_size=batch_size), predicted


def _direction(monitor: str, directions: dict[str, bool], patience: int | None) -> bool:
    """Whether a larger `monitor` is better, as its metric declares (val_accuracy -> Accuracy: yes)."""
    name = monitor.split("_", 1)[-1]
    if name not in directions:
        if patience is None:
            return False
        raise LayerlabError(f"early stopping monitors {monitor!r}, but this step measures only "
                            f"{', '.join(sorted(directions))} (use val_<name> or train_<name>)")
    return directions[name]


def _as_loader(data: Any, batch_size: int, device: torch.device, transform: BatchTransform | None,
               *, shuffle: bool, seed: int, training: bool = False) -> Iterable[Any]:
    """Batches of `data` on `device`. Under torchrun a TensorData is read as this process's shard:
    equal-length (padded) shards for training, exact disjoint ones for evaluation."""
    world = distributed.world_size()
    if isinstance(data, TensorData):
        return BatchLoader(data, batch_size, shuffle=shuffle, transform=transform, device=device, seed=seed,
                           rank=distributed.rank(), world_size=world, even_shards=training)
    if training and world > 1 and not (isinstance(data, BatchLoader) and data.world_size == world and data.even_shards):
        raise LayerlabError(f"training on {world} processes needs a TensorData (each process then reads its own "
                            f"shard of every epoch), or a BatchLoader with world_size={world} and even_shards=True; "
                            f"got {type(data).__name__}")
    if isinstance(data, BatchLoader):
        return data
    return _Moved(data, device, transform, seed)  # any iterable of (inputs, targets): a list, a DataLoader


def _sharded(loader: Any) -> bool:
    """Whether this process read only its shard (so its metric sums are a part of the whole)."""
    return isinstance(loader, BatchLoader) and loader.world_size > 1


class _Moved:
    """Batches from any iterable, moved to the device and transformed. The transform's random draws
    are a function of (seed, epoch), like BatchLoader's, so a resumed run draws the same ones; the
    iterable's own order is its business (set_epoch is passed on when it has one)."""

    def __init__(self, batches: Iterable[Any], device: torch.device, transform: BatchTransform | None, seed: int) -> None:
        self.batches, self.device, self.transform, self.seed = batches, device, transform, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        tell_epoch(self.transform, epoch)
        if hasattr(self.batches, "set_epoch"):
            self.batches.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.batches)  # type: ignore[arg-type]

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 7_919 + self.epoch + 1)
        for inputs, targets in self.batches:
            inputs, targets = to_device(inputs, self.device), to_device(targets, self.device)
            yield self.transform(inputs, targets, generator) if self.transform else (inputs, targets)


def _has_length(loader: Any) -> bool:
    try:
        len(loader)
    except TypeError:
        return False
    return True


def _length(loader: Any) -> int:
    try:
        return len(loader)
    except TypeError:
        return 0


def _lr(step: Step) -> float:
    first = next(iter(step.optimizers.values()), None)
    return first.param_groups[0]["lr"] if first is not None else math.nan


def _device_of(model: nn.Module) -> torch.device:
    first = next(iter(model.parameters()), None)
    return first.device if first is not None else torch.device("cpu")
