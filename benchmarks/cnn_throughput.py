"""Benchmark: training images/second of `cifar-cnn` (the lab's default config) and `resnet18-cifar`.

One process, every variant measured in turn and the turns alternated, so all of them see the same
machine state; each number is the median of several repeats. Variants: fp32 vs bf16 autocast,
NCHW vs channels_last. Then `fit` vs a hand-written loop on cifar-cnn with the lab's recipe
(augmentation, label smoothing, nesterov SGD, one-cycle, bf16, channels_last), alternating, and
the ratio hand/fit (>= 0.98 means fit adds under 2%). Random uint8 images stand in for CIFAR-10:
the speed of a step does not depend on the pixels. Usage: python benchmarks/cnn_throughput.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from layerlab.data import BatchLoader, TensorData
from layerlab.data.transforms import augment_pipeline
from layerlab.engine import fit
from layerlab.engine.optim import get_schedule
from layerlab.labs.cifar_cnn import CifarCnnConfig, model_overrides
from layerlab.models import get_model

LAB = CifarCnnConfig()
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def fake_cifar(n: int, seed: int = 0) -> TensorData:
    g = torch.Generator().manual_seed(seed)
    return TensorData(torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8),
                      torch.randint(0, 10, (n,), generator=g))


def build(name: str) -> nn.Module:
    return get_model("cifar-cnn", **model_overrides(LAB, 10)) if name == "cifar-cnn" else get_model(name)


def images_per_second(model: nn.Module, data: TensorData, batch: int, *, amp: bool, channels_last: bool) -> float:
    """A plain training loop (forward, loss, backward, SGD step) over `data`; images per second."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    start = time.perf_counter()
    for inputs, targets in BatchLoader(data, batch, transform=augment_pipeline(MEAN, STD, channels_last=channels_last)):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(model(inputs), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return len(data) / (time.perf_counter() - start)


def layout_table(rounds: int) -> None:
    variants = [(name, amp, cl) for name in ("cifar-cnn", "resnet18-cifar") for amp in (False, True) for cl in (False, True)]
    sizes = {"cifar-cnn": (1024, 256), "resnet18-cifar": (256, 128)}  # (images per repeat, batch)
    models = {v: build(v[0]) for v in variants}
    rates: dict[tuple, list[float]] = {v: [] for v in variants}
    for r in range(rounds + 1):                       # round 0 warms up every variant
        for v in variants:
            n, batch = sizes[v[0]]
            rate = images_per_second(models[v], fake_cifar(n, r), batch, amp=v[1], channels_last=v[2])
            if r:
                rates[v].append(rate)
    print(f"{'model':<16} {'precision':<10} {'layout':<14} {'images/s':>9}")
    for (name, amp, cl), values in rates.items():
        print(f"{name:<16} {'bf16' if amp else 'fp32':<10} {'channels_last' if cl else 'NCHW':<14} "
              f"{statistics.median(values):>9.0f}")


def hand_epoch(model: nn.Module, loader: BatchLoader, opt: torch.optim.Optimizer, sched, loss_fn: nn.Module) -> None:
    for inputs, targets in loader:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = loss_fn(model(inputs), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()


def fit_vs_hand(rounds: int, n: int = 2048) -> None:
    data = fake_cifar(n)
    transform = augment_pipeline(MEAN, STD, channels_last=True)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=LAB.label_smoothing)
    ours, theirs = build("cifar-cnn"), build("cifar-cnn").to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(theirs.parameters(), lr=LAB.lr, momentum=LAB.momentum, nesterov=True,
                          weight_decay=LAB.weight_decay)
    loader = BatchLoader(data, LAB.batch_size, shuffle=True, transform=transform)
    sched = get_schedule("one-cycle", opt, len(loader), rounds + 1)
    fit_times, hand_times = [], []
    for r in range(rounds + 1):                       # round 0 warms up both
        start = time.perf_counter()
        fit(ours, data, loss=loss_fn, optimizer="sgd", lr=LAB.lr, momentum=LAB.momentum, nesterov=True,
            weight_decay=LAB.weight_decay, schedule="one-cycle", epochs=1, batch_size=LAB.batch_size, amp=True,
            channels_last=True, transform=transform, device="cpu", progress=False, seed=r)
        t_fit = time.perf_counter() - start
        loader.set_epoch(r)
        start = time.perf_counter()
        hand_epoch(theirs, loader, opt, sched, loss_fn)
        t_hand = time.perf_counter() - start
        if r:
            fit_times.append(t_fit)
            hand_times.append(t_hand)
    f, h = statistics.median(fit_times), statistics.median(hand_times)
    print(f"cifar-cnn, lab recipe, {n:,} images, batch {LAB.batch_size}: "
          f"fit {n / f:.0f} images/s, hand loop {n / h:.0f} images/s (median of {rounds})")
    print(f"ratio hand/fit = {h / f:.3f}  (goal >= 0.98)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    layout_table(args.rounds)
    fit_vs_hand(args.rounds)


if __name__ == "__main__":
    main()
