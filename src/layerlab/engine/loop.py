"""The training loop: Data -> Model -> logits -> Loss -> gradients -> Optimizer -> Model.

`train_step` is the course diagram in code. `fit` repeats it over batches (iterations) and
epochs; everything else it does (device moves, bf16 autocast, gradient clipping, schedules,
checkpoints, early stopping, progress) wraps the step from outside. tests/engine/test_loop.py
proves `fit` trains exactly like a hand-written loop.
"""

from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from layerlab.data.tensors import Batch, BatchLoader, BatchTransform, TensorData
from layerlab.engine.losses import get_loss, loss_task
from layerlab.engine.metrics import Meter
from layerlab.engine.optim import get_optimizer, get_schedule
from layerlab.engine.progress import EpochProgress
from layerlab.engine.run import RunDir, select_device
from layerlab.engine.trainer_state import DivergenceError, check_finite, restore, snapshot
from layerlab.errors import LayerlabError


CHECK_EVERY = 256   # steps between divergence checks when no progress bar reads the loss


def train_step(
    model: nn.Module, batch: Batch, loss_fn: nn.Module, optimizer: Optimizer, clip_grad_norm: float | None = None
) -> tuple[Tensor, Tensor]:
    inputs, targets = batch
    logits = model(inputs)                 # Data -> Model -> logits
    loss = loss_fn(logits, targets)        # logits -> Loss
    optimizer.zero_grad(set_to_none=True)
    loss.backward()                        # Loss -> gradients
    if clip_grad_norm is not None:         # optional: cap the gradient's length before the step
        nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
    optimizer.step()                       # Optimizer -> Model
    return loss.detach(), logits.detach()  # no .item() here: that would sync the GPU every step


@torch.no_grad()
def predict(
    model: nn.Module, data: TensorData | Iterable[Batch], *, batch_size: int = 1024, device: torch.device | str | None = None,
    transform: BatchTransform | None = None, amp: bool = False,
) -> tuple[Tensor, Tensor]:
    """Model outputs and targets for a whole dataset, in order, on the CPU."""
    outputs, targets = [], []
    for inputs, batch_targets in _as_loader(data, batch_size, device or _device_of(model), transform, shuffle=False, seed=0):
        with _autocast(batch_targets.device, amp):
            outputs.append(_eval_forward(model, inputs).float().cpu())
        targets.append(batch_targets.cpu())
    return torch.cat(outputs), torch.cat(targets)


@torch.no_grad()
def evaluate(
    model: nn.Module, data: TensorData | Iterable[Batch], *, loss: str | nn.Module = "cross_entropy", batch_size: int = 1024,
    device: torch.device | str | None = None, transform: BatchTransform | None = None, amp: bool = False, prefix: str = "",
) -> dict[str, float]:
    """Loss and metrics over a dataset: accuracy by argmax for classification, RMSE/MAE for regression."""
    loss_fn = get_loss(loss)
    meter = Meter(loss_task(loss), device=torch.device(device) if device else _device_of(model))
    was_training = model.training
    model.eval()
    try:
        for inputs, targets in _as_loader(data, batch_size, meter.device, transform, shuffle=False, seed=0):
            with _autocast(targets.device, amp):   # targets: inputs may be a tuple (seq2seq: source, decoder input)
                outputs = model(inputs)
                batch_loss = loss_fn(outputs.float(), targets)
            meter.update(batch_loss, outputs.float(), targets, loss_is_sum=_sums(loss_fn))
    finally:
        model.train(was_training)
    return meter.compute(prefix)


@dataclass
class History:
    """Per-epoch metrics of one `fit`: `history.epochs[-1]["val_accuracy"]`, `history.series("train_loss")`."""

    epochs: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False

    def series(self, key: str) -> list[float]:
        return [row[key] for row in self.epochs if key in row]

    @property
    def last(self) -> dict[str, Any]:
        return self.epochs[-1] if self.epochs else {}

    def __len__(self) -> int:
        return len(self.epochs)


@dataclass
class FitOptions:
    """Everything `fit` does around the step. Defaults add nothing: plain SGD steps, as by hand."""

    loss: str | nn.Module = "cross_entropy"
    optimizer: str | Optimizer = "sgd"
    lr: float = 0.1
    epochs: int = 1
    batch_size: int = 64
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str | None = None          # step | cosine | one-cycle (stepped every iteration)
    clip_grad_norm: float | None = None
    patience: int | None = None          # early stopping: epochs without improvement of `monitor`
    monitor: str = "val_loss"            # *_loss, *_rmse, *_mae are minimised; accuracy maximised
    device: str = "auto"
    amp: bool = False                    # bf16 autocast (CPU with AVX-512 BF16, or CUDA)
    channels_last: bool = False
    compile: bool = False                # torch.compile the model for the step
    seed: int = 0
    progress: bool = True
    transform: BatchTransform | None = None       # training batches (augmentation, normalisation)
    eval_transform: BatchTransform | None = None  # validation batches


def fit(
    model: nn.Module, train: TensorData | Iterable[Batch], *, val: TensorData | Iterable[Batch] | None = None,
    run: RunDir | None = None, stage: str = "main", log: Callable[[dict[str, Any]], None] | None = None, **options: Any,
) -> History:
    """Train `model` for `epochs` passes over `train`; returns the per-epoch History.

    With `run`, every epoch ends with an atomic checkpoint, and a run folder holding one
    continues from it (that is how `layerlab resume` works).
    """
    opts = _options(options)
    device = select_device(opts.device)
    model.to(device, memory_format=torch.channels_last) if opts.channels_last else model.to(device)
    loss_fn = get_loss(opts.loss)
    loader = _as_loader(train, opts.batch_size, device, opts.transform, shuffle=True, seed=opts.seed)
    optimizer = opts.optimizer if isinstance(opts.optimizer, Optimizer) else get_optimizer(
        opts.optimizer, model, opts.lr, momentum=opts.momentum, nesterov=opts.nesterov, weight_decay=opts.weight_decay)
    scheduler = get_schedule(opts.schedule, optimizer, len(loader), opts.epochs)
    history, stopper = History(), _EarlyStopping(opts.patience, opts.monitor)
    start = restore(run, stage, model, optimizer, scheduler, history, stopper) if run else 0
    step_model = torch.compile(model) if opts.compile else model
    for epoch in range(start + 1, opts.epochs + 1):
        if stopper.should_stop:
            break
        row, bar = _train_epoch(step_model, loader, loss_fn, optimizer, scheduler, opts, epoch)
        if val is not None:
            row.update(evaluate(model, val, loss=loss_fn, batch_size=max(opts.batch_size, 512), device=device,
                                transform=opts.eval_transform, amp=opts.amp, prefix="val_"))
        bar.close(row)
        history.stopped_early = stopper.update(row, model)
        history.epochs.append(row)
        if run is not None:
            snapshot(run, stage, model, optimizer, scheduler, history, stopper)
        if log is not None:
            log(row)
    stopper.restore_best(model)
    return history


def _train_epoch(model: nn.Module, loader: Any, loss_fn: nn.Module, optimizer: Optimizer, scheduler: Any,
                 opts: FitOptions, epoch: int) -> tuple[dict[str, Any], EpochProgress]:
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(epoch)
    model.train()
    meter, chunk, checked = None, 1, 0
    bar = EpochProgress(epoch, opts.epochs, _length(loader), enabled=opts.progress)
    lr = optimizer.param_groups[0]["lr"]
    is_sum, clip, live = _sums(loss_fn), opts.clip_grad_norm, bar.live   # read once: the loop stays lean
    amp, channels_last = opts.amp, opts.channels_last
    # The step's results wait in plain lists and reach the meter a chunk of batches at a time (one
    # argmax per chunk): per step, the loop adds three list appends to what a hand-written loop does.
    losses: list[Tensor] = []
    outputs: list[Tensor] = []
    labels: list[Tensor] = []
    for step, (inputs, targets) in enumerate(loader, start=1):
        if channels_last and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        if amp:
            with _autocast(targets.device, True):
                loss, logits = train_step(model, (inputs, targets), loss_fn, optimizer, clip)
        else:
            loss, logits = train_step(model, (inputs, targets), loss_fn, optimizer, clip)
        if scheduler is not None:
            scheduler.step()
        losses.append(loss)
        outputs.append(logits)
        labels.append(targets)
        if meter is None:
            meter = Meter(loss_task(opts.loss), targets.device)
            chunk = meter.chunk(logits, most=CHECK_EVERY)
        if live and bar.due():             # a few syncs per second at most
            value = loss.item()
            bar.draw(step, value)
            if not math.isfinite(value):
                check_finite(meter.losses[checked:] + losses, epoch, lr, first=checked + 1)
        if len(losses) == chunk:
            meter.extend(losses, outputs, labels, is_sum)
            losses, outputs, labels = [], [], []
            if step - checked >= CHECK_EVERY:   # logs too stop a diverged epoch early, one sync each time
                check_finite(meter.losses[checked:], epoch, lr, first=checked + 1)
                checked = step
    if meter is None:
        raise LayerlabError("the training data produced no batches (is it empty, or smaller than one batch with drop_last?)")
    meter.extend(losses, outputs, labels, is_sum)
    check_finite(meter.losses[checked:], epoch, lr, first=checked + 1)
    return {"epoch": epoch, **meter.compute("train_"), "lr": lr, "seconds": round(bar.elapsed(), 3)}, bar


class _EarlyStopping:
    """Stop after `patience` epochs without improvement of `monitor`; keep the best weights."""

    def __init__(self, patience: int | None, monitor: str) -> None:
        self.patience, self.monitor = patience, monitor
        self.best: float | None = None
        self.bad_epochs = 0
        self.best_state: dict[str, Tensor] | None = None
        self.should_stop = False

    def update(self, row: dict[str, Any], model: nn.Module) -> bool:
        if self.patience is None:
            return False
        if self.monitor not in row:
            raise LayerlabError(f"early stopping monitors {self.monitor!r}, but the epoch reports only {sorted(row)}")
        value = row[self.monitor]
        better = self.best is None or (value > self.best if "accuracy" in self.monitor else value < self.best)
        if better:
            self.best, self.bad_epochs = value, 0
            self.best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        else:
            self.bad_epochs += 1
        self.should_stop = self.bad_epochs >= self.patience
        return self.should_stop

    def restore_best(self, model: nn.Module) -> None:
        if self.should_stop and self.best_state is not None:
            model.load_state_dict(self.best_state)


def _options(options: dict[str, Any]) -> FitOptions:
    known = FitOptions.__dataclass_fields__
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(f"fit() got unknown options {unknown}; known: {sorted(known)}")
    opts = FitOptions(**options)
    if opts.epochs < 0:
        raise LayerlabError(f"epochs must be >= 0, got {opts.epochs}")
    return opts


def _as_loader(data: Any, batch_size: int, device: torch.device, transform: BatchTransform | None,
               *, shuffle: bool, seed: int) -> Iterable[Batch]:
    if isinstance(data, TensorData):
        return BatchLoader(data, batch_size, shuffle=shuffle, transform=transform, device=device, seed=seed)
    if isinstance(data, BatchLoader):
        return data
    return _moved(data, device, transform)  # any iterable of (inputs, targets): a list, a DataLoader


class _moved:
    def __init__(self, batches: Iterable[Batch], device: torch.device, transform: BatchTransform | None) -> None:
        self.batches, self.device, self.transform = batches, device, transform
        self.generator = torch.Generator().manual_seed(0)

    def __len__(self) -> int:
        return len(self.batches)  # type: ignore[arg-type]

    def __iter__(self):
        for inputs, targets in self.batches:
            inputs, targets = inputs.to(self.device), targets.to(self.device)
            yield self.transform(inputs, targets, self.generator) if self.transform else (inputs, targets)


def _length(loader: Any) -> int:
    try:
        return len(loader)
    except TypeError:
        return 0


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _eval_forward(model: nn.Module, inputs: Tensor) -> Tensor:
    was_training = model.training
    model.eval()
    try:
        return model(inputs)
    finally:
        model.train(was_training)


def _device_of(model: nn.Module) -> torch.device:
    first = next(iter(model.parameters()), None)
    return first.device if first is not None else torch.device("cpu")


def _sums(loss_fn: nn.Module) -> bool:
    return getattr(loss_fn, "reduction", "mean") == "sum"
