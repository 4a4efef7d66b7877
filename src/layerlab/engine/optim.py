"""Optimizers and learning-rate schedules by name.

Schedules step once per iteration (not per epoch), so one-cycle and cosine are smooth and a
resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import inspect
import math
from typing import Callable, Iterable

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from layerlab.errors import LayerlabError
from layerlab.registry import Registry

OPTIMIZERS: Registry[Callable[..., Optimizer]] = Registry("optimizer")
SCHEDULES: Registry[Callable[..., LRScheduler]] = Registry("schedule")


def fast_kernel(params: list) -> dict[str, bool]:
    """The fused kernel (one pass over all parameters) where torch has it: on 2 CPU cores it makes
    Adam's step on the course MLP ~15% faster than the per-tensor loop; foreach elsewhere.
    `params`: tensors, or parameter groups (dicts with "params")."""
    tensors = [t for p in params for t in (p["params"] if isinstance(p, dict) else [p])]
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point for p in tensors)
    return {"fused": True} if fused else {"foreach": True}


@OPTIMIZERS.register("sgd", description="w <- w - lr·grad; momentum and nesterov optional")
def sgd(params: Iterable, lr: float, *, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0) -> Optimizer:
    params = list(params)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, **fast_kernel(params))


@OPTIMIZERS.register("adam", description="adaptive moments (Kingma & Ba, 2015)")
def adam(params: Iterable, lr: float, *, weight_decay: float = 0.0) -> Optimizer:
    params = list(params)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, **fast_kernel(params))


@OPTIMIZERS.register("adamw", description="Adam with decoupled weight decay")
def adamw(params: Iterable, lr: float, *, weight_decay: float = 0.0) -> Optimizer:
    # 0, not torch's 0.01: a run gets the decay its config states and nothing hidden
    params = list(params)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, **fast_kernel(params))


@OPTIMIZERS.register("rmsprop", description="divide by a running RMS of the gradient")
def rmsprop(params: Iterable, lr: float, *, momentum: float = 0.0, weight_decay: float = 0.0) -> Optimizer:
    return torch.optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


# why an optimizer lacks an option, for the one-line error
_NO_OPTION_BECAUSE = {"momentum": " (its betas play that role)", "nesterov": ""}


def get_optimizer(
    name: str,
    model: nn.Module,
    lr: float,
    *,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    shift_lr_scale: float = 1.0,
) -> Optimizer:
    """Build an optimizer over the model's trainable parameters (frozen ones are left out).

    momentum, nesterov and weight_decay at their defaults mean "not set"; a set option the
    optimizer does not use is an error rather than silently ignored. `shift_lr_scale` gives the
    normalisation layers' shifts (BatchNorm's bias, beta) their own group at lr × scale and
    weight_decay ÷ scale, so each step shrinks them by the same fraction as the weights: the fast
    CIFAR-10 trainers let the shifts learn 64x faster.
    """
    if not (math.isfinite(lr) and lr > 0):
        raise LayerlabError(f"the learning rate must be positive and finite, got {lr}")
    for option, value in (("momentum", momentum), ("weight_decay", weight_decay)):
        if not (math.isfinite(value) and value >= 0):
            raise LayerlabError(f"--{option.replace('_', '-')} must be a finite number >= 0, got {value}")
    if nesterov and momentum <= 0:
        raise LayerlabError("nesterov needs momentum > 0 (e.g. --momentum 0.9)")
    entry = OPTIMIZERS.get(name.lower())
    accepted = inspect.signature(entry.obj).parameters
    options = {"momentum": momentum, "nesterov": nesterov, "weight_decay": weight_decay}
    for option, value in options.items():
        if value and option not in accepted:
            raise LayerlabError(f"{entry.name} has no {option}{_NO_OPTION_BECAUSE.get(option, '')}; "
                                f"drop --{option.replace('_', '-')} or use sgd")
    if not (math.isfinite(shift_lr_scale) and shift_lr_scale > 0):
        raise LayerlabError(f"the shifts' learning-rate scale must be positive and finite, got {shift_lr_scale}")
    params: list = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise LayerlabError("the model has no trainable parameters (is every layer frozen?)")
    shifts = {id(m.bias): m.bias for m in model.modules()
              if isinstance(m, _NORMS) and m.bias is not None and m.bias.requires_grad}
    if shift_lr_scale != 1.0 and shifts:
        rest = [p for p in params if id(p) not in shifts]
        params = [{"params": rest}] * bool(rest) + [
            {"params": list(shifts.values()), "lr": lr * shift_lr_scale,
             **({"weight_decay": weight_decay / shift_lr_scale} if "weight_decay" in accepted else {})}]
    return entry.obj(params, lr, **{option: value for option, value in options.items() if option in accepted})


# every BatchNorm and InstanceNorm (torch's _NormBase, as inspect/summary.py reads them), GroupNorm, LayerNorm
_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


class Lookahead(Optimizer):
    """Lookahead (Zhang et al., 2019) as the fast CIFAR-10 trainers use it: slow weights that follow the
    trained ("fast") ones as an exponential moving average, and pull them back every few steps.

    Every `every` steps: slow <- decay·slow + (1 - decay)·fast, then fast <- slow. The decay grows
    with the run, `decay · (t / total_steps)³`, so the first steps are plain steps of `base` (nothing to
    average yet) and the last ones average over ~20 steps; at step `total_steps` the weights become the
    slow ones, so the run ends on the average. It wraps any optimizer: the learning-rate schedule sets
    the rates of `base` (the two share their parameter groups), and `state_dict` holds both, so a
    resumed run continues exactly. With `model`, its floating-point buffers (the batch-norm statistics)
    are averaged alongside, so the statistics match the averaged weights; they are looked up at the
    first step, after the model has moved to its device.
    """

    def __init__(self, base: Optimizer, total_steps: int, *, every: int = 5, decay: float = 0.95 ** 5,
                 model: nn.Module | None = None) -> None:
        if not (isinstance(total_steps, int) and total_steps >= 1):
            raise LayerlabError(f"Lookahead needs the run's number of steps (>= 1), got {total_steps!r}")
        if not (isinstance(every, int) and every >= 1) or not 0.0 <= decay < 1.0:
            raise LayerlabError(f"Lookahead needs every >= 1 and 0 <= decay < 1, got every={every!r}, decay={decay!r}")
        params = [p for group in base.param_groups for p in group["params"]]
        super().__init__(params, {})              # the hooks every optimizer has
        self.model = model
        self.base, self.defaults = base, base.defaults
        self.total_steps, self.every, self.decay, self.steps = total_steps, every, decay, 0
        self.slow: list[torch.Tensor] = []     # taken at the first step, on the parameters' device

    def averaged(self) -> list[torch.Tensor]:
        """The tensors the slow copy follows: every parameter, then the model's floating-point buffers."""
        params = [p for group in self.base.param_groups for p in group["params"]]
        return params + ([b for b in self.model.buffers() if b.is_floating_point()] if self.model is not None else [])

    @property
    def param_groups(self) -> list[dict]:  # type: ignore[override]
        """The base optimizer's groups, even after its load_state_dict replaced them: a schedule sets its rates."""
        return self.base.param_groups if "base" in self.__dict__ else self.__dict__["_groups"]

    @param_groups.setter
    def param_groups(self, groups: list[dict]) -> None:   # Optimizer.__init__'s, before there is a base
        self.__dict__["_groups"] = groups

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        if not self.slow:
            self.slow = [p.detach().clone() for p in self.averaged()]
        loss = self.base.step(closure)
        self.steps += 1
        if self.steps == self.total_steps:        # the end of the run: the averaged weights
            torch._foreach_copy_(self.averaged(), self.slow)
        elif self.steps % self.every == 0:
            decay = self.decay * min(1.0, self.steps / self.total_steps) ** 3
            now = self.averaged()
            torch._foreach_lerp_(self.slow, now, 1.0 - decay)
            torch._foreach_copy_(now, self.slow)
        return loss

    def state_dict(self) -> dict:  # type: ignore[override]
        return {"base": self.base.state_dict(), "slow": [s.clone() for s in self.slow], "steps": self.steps}

    def load_state_dict(self, state: dict) -> None:  # type: ignore[override]
        now = self.averaged()
        if set(state) != {"base", "slow", "steps"} or len(state["slow"]) not in (0, len(now)):
            raise LayerlabError("this optimizer state is not a Lookahead's over these parameters")
        self.base.load_state_dict(state["base"])
        self.slow = [s.to(p.device, p.dtype).clone() for s, p in zip(state["slow"], now)]
        self.steps = int(state["steps"])


@SCHEDULES.register("step", description="multiply the rate by gamma every step_epochs epochs")
def step(opt: Optimizer, steps_per_epoch: int, epochs: int, step_epochs: int = 10, gamma: float = 0.1) -> LRScheduler:
    return torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, step_epochs * steps_per_epoch), gamma=gamma)


@SCHEDULES.register("multistep", description="divide the rate by 10 at 50% and 75% of the run (the ResNet paper's CIFAR schedule)")
def multistep(opt: Optimizer, steps_per_epoch: int, epochs: int, **_: object) -> LRScheduler:
    # He et al. 2015, §4.2: lr 0.1, divided by 10 at 32k and 48k iterations, stop at 64k
    total = max(1, steps_per_epoch * epochs)
    return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[total // 2, total * 3 // 4], gamma=0.1)


@SCHEDULES.register("warmup-multistep", description="rise linearly from lr/10 over the first 5% of the run, then multistep")
def warmup_multistep(opt: Optimizer, steps_per_epoch: int, epochs: int, **_: object) -> LRScheduler:
    # the paper warms ResNet-110 up at lr/10 for its first 400 iterations: a deep net's first steps
    # at the full rate can throw it far off (ResNet-56 at 0.05 in the degradation lab: loss 3.8)
    total = max(1, steps_per_epoch * epochs)
    warmup, first, second = max(1, total // 20), total // 2, total * 3 // 4

    def factor(step: int) -> float:   # the multiple of lr for the step after `step` scheduler steps
        if step < warmup:
            return 0.1 + 0.9 * step / warmup
        return 1.0 if step < first else 0.1 if step < second else 0.01

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


@SCHEDULES.register("cosine", description="cosine decay from lr to 0 over the whole run")
def cosine(opt: Optimizer, steps_per_epoch: int, epochs: int, **_: object) -> LRScheduler:
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps_per_epoch * epochs))


@SCHEDULES.register("one-cycle", description="warm up to lr, then anneal far below it (Smith, 2018)")
def one_cycle(opt: Optimizer, steps_per_epoch: int, epochs: int, pct_start: float = 0.25, **_: object) -> LRScheduler:
    max_lr = [group["lr"] for group in opt.param_groups]
    total = max(3, steps_per_epoch * epochs)
    # both phases need at least one step, or torch divides by a zero-length phase (tiny runs)
    pct = min(max(pct_start, 2 / total), (total - 1) / total)
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=total, pct_start=pct)


@SCHEDULES.register("triangle", description="rise linearly from lr/5 to lr over the first 23% of the run, then fall "
                                            "linearly to lr·0.07 (the fast CIFAR-10 trainers' schedule)")
def triangle(opt: Optimizer, steps_per_epoch: int, epochs: int, **_: object) -> LRScheduler:
    total = max(1, steps_per_epoch * epochs)
    peak = 0.23 * total

    def factor(step: int) -> float:   # the multiple of lr for the step after `step` scheduler steps
        return 0.2 + 0.8 * step / peak if step < peak else max(0.07, 1.0 - 0.93 * (step - peak) / (total - peak))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


@SCHEDULES.register("decay-last-epoch", description="hold lr, then fall linearly to 0 over the last epoch "
                                                    "(the GAN games' --decay-last)")
def decay_last_epoch(opt: Optimizer, steps_per_epoch: int, epochs: int, **_: object) -> LRScheduler:
    total, tail = steps_per_epoch * epochs, max(1, steps_per_epoch)

    def factor(step: int) -> float:   # the multiple of lr for the step after `step` scheduler steps
        return max(0.0, min(1.0, (total - step) / tail))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def get_schedule(name: str | None, opt: Optimizer, steps_per_epoch: int, epochs: int) -> LRScheduler | None:
    if name in (None, "", "none", "constant"):
        return None
    return SCHEDULES.get(name.replace("_", "-")).obj(opt, steps_per_epoch, epochs)
