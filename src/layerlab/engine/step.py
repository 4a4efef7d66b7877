"""Steps: what one training iteration and one evaluation batch do, for one kind of problem.

`fit` repeats a step over batches and epochs; the step owns its models and optimizers (dicts by
name) and says what it measured. `Supervised` is the course diagram: `train_step` below, one model,
one loss, one optimizer. A GAN (two models, two optimizers), a VAE (a loss that needs mu and
log-variance) or a CTC recogniser is a small Step of its own beside it, not an adapter around the
model (docs/engine.md shows how to write one).

A step's `train(batch)` and `evaluate(batch)` return detached per-batch values by name, e.g.
{"loss": ..., "count": 64, "outputs": logits, "targets": labels}; its `metrics()` are fresh metric
objects that read those names. Nothing in a step calls `.item()`: a host sync per step would stall
a GPU.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from layerlab.data.tensors import num_samples
from layerlab.engine.losses import get_loss, loss_metrics
from layerlab.engine.metrics import Metric, Metrics
from layerlab.engine.optim import get_optimizer
from layerlab.engine.speed import native_bf16
from layerlab.errors import LayerlabError, LayerlabWarning


def train_step(model: nn.Module, batch: tuple[Any, Tensor], loss_fn: nn.Module, optimizer: Optimizer, *,
               clip_grad_norm: float | None = None,
               precision: contextlib.AbstractContextManager = contextlib.nullcontext()) -> tuple[Tensor, Tensor]:
    inputs, targets = batch
    with precision:                        # optional bf16 autocast: the forward and the loss, never backward
        logits = model(inputs)             # Data -> Model -> logits
        loss = loss_fn(logits, targets)    # logits -> Loss
    optimizer.zero_grad(set_to_none=True)
    loss.backward()                        # Loss -> gradients
    if clip_grad_norm is not None:         # optional: cap the gradient's length before the step
        nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
    optimizer.step()                       # Optimizer -> Model
    return loss.detach(), logits.detach()  # no .item() here: that would sync the GPU every step


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on `device` when enabled and the device runs bf16 natively; else nothing.

    Asked for where bf16 is only emulated (see `native_bf16`), the run stays in float32, which is
    faster there and only more exact, and says so once per process (a `LayerlabWarning`).
    """
    if not enabled:
        return contextlib.nullcontext()
    if not native_bf16(device.type):
        _say_float32_once(device.type)
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


_SAID: set[str] = set()


def _say_float32_once(device_type: str) -> None:
    if device_type not in _SAID:
        _SAID.add(device_type)
        lacks = "GPU has no native bf16 (it came before Ampere)" if device_type == "cuda" else \
            f"{device_type.upper()} has no native bf16 (no AVX512_BF16 nor AMX)"
        warnings.warn(f"bf16 autocast (--amp) was asked for, but this {lacks}: training in float32 instead, which is "
                      "many times faster here", LayerlabWarning, stacklevel=3)


class Step(ABC):
    """What `fit` trains: models and optimizers by name, and a train/evaluate pair.

    Subclasses set `models` and `optimizers` and implement `train`, `evaluate` and `metrics`.
    `loss_keys` names the values the divergence guard watches (a GAN has two losses); a step that
    draws random numbers owns `generators` (by name) and draws from them.
    """

    models: dict[str, nn.Module]
    optimizers: dict[str, Optimizer]
    loss_keys: tuple[str, ...] = ("loss",)
    # the step's own random draws (denoising noise, a VAE's ε), never torch's global RNG; the
    # checkpoint keeps their states so that a resumed run draws the same numbers
    generators: Mapping[str, torch.Generator] = MappingProxyType({})

    @abstractmethod
    def train(self, batch: Any) -> dict[str, Any]:
        """One iteration on one batch: forward, loss, backward, optimizer step(s); detached values out."""

    @abstractmethod
    def evaluate(self, batch: Any) -> dict[str, Any]:
        """The same values for a batch that is only scored (called under torch.no_grad, models in eval mode)."""

    @abstractmethod
    def metrics(self) -> Metrics:
        """Fresh metric objects for one pass over a dataset."""

    def end_epoch(self) -> None:
        """Called by `fit` after each training epoch, before validation and the checkpoint: work a step does
        once an epoch on its models (a GAN measures its averaged generator's batch-norm statistics)."""

    def to(self, device: torch.device, *, channels_last: bool = False) -> "Step":
        for model in self.models.values():
            model.to(device, memory_format=torch.channels_last) if channels_last else model.to(device)
        return self

    def distribute(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        """Train through `wrap(model)` (DistributedDataParallel, engine/distributed.py), which averages
        the gradients of every process; evaluation and checkpoints keep using the models themselves.
        A step whose training calls `self.forward_model` (its one `self.model`, or the wrapper) is ready as it is;
        another overrides this once its training forward goes through the wrapped model."""
        if hasattr(self, "forward_model"):
            self.forward_model = wrap(self.model)
            return
        raise LayerlabError(f"the {type(self).__name__} step does not train on several processes yet: "
                            "run it in one process (without torchrun or --nproc)")

    def train_mode(self, on: bool = True) -> None:
        for model in self.models.values():
            model.train(on)

    @property
    def device(self) -> torch.device:
        for model in self.models.values():
            for p in model.parameters():
                return p.device
        return torch.device("cpu")


class Supervised(Step):
    """Inputs -> model -> outputs, scored against targets by one loss, one optimizer: the course's pipeline.

    `metrics` defaults to what the loss declares (layerlab.engine.losses.loss_metrics): accuracy for
    cross-entropy, yes/no accuracy for BCE, RMSE and MAE for squared error; a loss it does not know
    reports its mean only, unless you pass `metrics={"name": Metric, ...}`.
    """

    def __init__(self, model: nn.Module, *, loss: str | nn.Module = "cross_entropy", optimizer: str | Optimizer | None = "sgd",
                 lr: float = 0.1, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0,
                 metrics: dict[str, Metric] | None = None, clip_grad_norm: float | None = None, amp: bool = False,
                 channels_last: bool = False, compile: bool = False) -> None:
        self.model = model
        self.loss_fn = get_loss(loss)
        self.models = {"model": model}
        if optimizer is None:                  # evaluation only
            self.optimizers = {}
        elif isinstance(optimizer, Optimizer):
            self.optimizers = {"optimizer": optimizer}
        else:
            self.optimizers = {"optimizer": get_optimizer(optimizer, model, lr, momentum=momentum, nesterov=nesterov,
                                                          weight_decay=weight_decay)}
        self._metrics = metrics
        self.clip_grad_norm, self.amp, self.channels_last, self.compile = clip_grad_norm, amp, channels_last, compile
        self.forward_model = Compiled(model) if compile else model   # what training calls
        self._sums = getattr(self.loss_fn, "reduction", None) == "sum"    # sum of squares: report a per-sample mean
        self._pad = getattr(self.loss_fn, "pad_id", None)                  # token losses: a mean over real tokens

    def distribute(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        wrapped = wrap(self.model)
        self.forward_model = Compiled(wrapped) if self.compile else wrapped   # DDP first, then compile

    def metrics(self) -> Metrics:
        if self._metrics is not None:
            return Metrics({name: _fresh(metric) for name, metric in self._metrics.items()})
        return Metrics(loss_metrics(self.loss_fn))

    def _inputs(self, inputs: Any) -> Any:
        if isinstance(inputs, Tensor) and inputs.dtype == torch.uint8:
            raise LayerlabError("the model was given uint8 images (0..255): convert them first, e.g. "
                                "fit(..., transform=float_normalize(train.meta['mean'], train.meta['std'])) "
                                "from layerlab.data.transforms, or leave transform= unset and fit does it")
        if self.channels_last and isinstance(inputs, Tensor) and inputs.dim() == 4:
            return inputs.contiguous(memory_format=torch.channels_last)
        return inputs

    def _values(self, loss: Tensor, outputs: Tensor, targets: Any) -> dict[str, Any]:
        # the samples a batch holds: rows of a tensor, of each tensor of a dict, or per-sample dicts of a list
        count = (targets != self._pad).sum() if self._pad is not None else num_samples(targets, "targets")
        return {"loss": loss / count if self._sums else loss, "count": count, "outputs": outputs, "targets": targets}

    def train(self, batch: tuple[Any, Any]) -> dict[str, Any]:
        inputs, targets = batch
        precision = autocast(targets.device if isinstance(targets, Tensor) else self.device, self.amp)
        loss, outputs = train_step(self.forward_model, (self._inputs(inputs), targets), self.loss_fn,
                                   self.optimizers["optimizer"], clip_grad_norm=self.clip_grad_norm, precision=precision)
        return self._values(loss, outputs, targets)

    def evaluate(self, batch: tuple[Any, Any]) -> dict[str, Any]:
        inputs, targets = batch
        with autocast(targets.device if isinstance(targets, Tensor) else self.device, self.amp):
            outputs = self.model(self._inputs(inputs)).float()
            loss = self.loss_fn(outputs, targets)
        return self._values(loss.float(), outputs, targets)


class Compiled:
    """`torch.compile(model)` (`.fast`), whose failures end in one clear line instead of a page of
    compiler internals: no C++ compiler for inductor, a Python that Dynamo does not support. It
    compiles at the first call, so that is where most of them surface."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        try:
            self.fast = torch.compile(model)
        except RuntimeError as exc:
            raise self._failed(exc) from exc

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.fast(*args, **kwargs)
        except torch._dynamo.exc.BackendCompilerFailed as exc:
            raise self._failed(exc) from exc

    def _failed(self, exc: Exception) -> LayerlabError:
        reason = (str(getattr(exc, "inner_exception", None) or exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        return LayerlabError(f"torch.compile could not compile {type(self.model).__name__} ({reason}); train without "
                             "--compile (compile=False): the same training, only slower")


def _fresh(metric: Metric) -> Metric:
    """A metric with empty sums, so each pass starts from zero without rebuilding the user's objects."""
    fresh = copy.copy(metric)
    fresh.reset()
    return fresh
