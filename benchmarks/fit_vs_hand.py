"""Benchmark: layerlab's `fit` against a hand-written loop on the course MLP (784-64-10).

Fashion-MNIST (or MNIST / digits when it is absent), batch 128, Adam 1e-3, one process, one
epoch of each contender per round, the order rotating every round so all see the same machine.

- `fit`: layerlab as a user calls it (uint8 images normalised per batch, fit's fused Adam,
  train loss and accuracy reported every epoch).
- `hand`: the loop a PyTorch user writes by hand: the images normalised to float32 once up
  front, a fresh `randperm` per epoch, `x[idx]` batches, `torch.optim.Adam(lr=1e-3)`,
  forward / cross-entropy / zero_grad / backward / step, nothing reported. The issue's goal is
  hand/fit >= 0.98: fit may cost at most 2% more than this.
- `bare`: the same four lines over fit's own pieces (the same BatchLoader, the same fused Adam).
  It isolates what fit's loop adds to the step (train loss and accuracy, the divergence check);
  printed so that cost stays visible.

Prints the median s/epoch of each and the median of the rounds' ratios (ratios measured in one
round, so a slow phase of the machine hits both sides). Usage: python benchmarks/fit_vs_hand.py
[--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from layerlab.data import BatchLoader, TensorData, get_dataset
from layerlab.data.transforms import float_normalize
from layerlab.engine import fit
from layerlab.engine.optim import get_optimizer
from layerlab.errors import LayerlabError
from layerlab.models import get_model

BATCH, LR = 128, 1e-3


def load() -> tuple[str, TensorData]:
    for name in ("fashion-mnist", "mnist"):
        try:
            return name, get_dataset(name, split="train")
        except LayerlabError:
            continue
    return "digits", get_dataset("digits", split="train")


def four_lines(model: nn.Module, batches, opt: torch.optim.Optimizer) -> None:
    for inputs, targets in batches:
        loss = F.cross_entropy(model(inputs), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def contenders(train: TensorData) -> dict[str, Callable[[int], None]]:
    transform = float_normalize(train.meta.get("mean"), train.meta.get("std"))
    sizes = (train.inputs[0].numel(), 64, 10)
    models = {name: get_model("mlp", sizes=sizes) for name in ("fit", "hand", "bare")}

    fit_opt = get_optimizer("adam", models["fit"], LR)       # kept across rounds, as the others keep theirs
    def run_fit(r: int) -> None:
        fit(models["fit"], train, optimizer=fit_opt, epochs=1, batch_size=BATCH, transform=transform,
            device="cpu", progress=False, seed=r)

    x = transform(train.inputs, train.targets, torch.Generator())[0]   # normalised once, as users do
    y, hand_opt, g = train.targets, torch.optim.Adam(models["hand"].parameters(), lr=LR), torch.Generator().manual_seed(0)
    def run_hand(r: int) -> None:
        order = torch.randperm(len(x), generator=g)
        idxs = (order[start:start + BATCH] for start in range(0, len(order), BATCH))
        four_lines(models["hand"], ((x[idx], y[idx]) for idx in idxs), hand_opt)

    loader = BatchLoader(train, BATCH, shuffle=True, transform=transform)
    bare_opt = get_optimizer("adam", models["bare"], LR)     # the very optimizer fit builds
    def run_bare(r: int) -> None:
        loader.set_epoch(r)
        four_lines(models["bare"], loader, bare_opt)

    return {"fit": run_fit, "hand": run_hand, "bare": run_bare}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    name, train = load()
    runs = contenders(train)
    names = list(runs)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds + 1):                          # round 0 warms everything up
        for n in names[r % len(names):] + names[: r % len(names)]:
            start = time.perf_counter()
            runs[n](r)
            if r:
                times[n].append(time.perf_counter() - start)
    med = {n: statistics.median(t) for n, t in times.items()}
    ratio = {n: statistics.median(a / b for a, b in zip(times[n], times["fit"])) for n in ("hand", "bare")}
    print(f"dataset {name}: {len(train):,} images, MLP 784-64-10, batch {BATCH}, Adam {LR:g}, "
          f"{torch.get_num_threads()} threads, median of {args.rounds} rounds")
    print(f"fit        {med['fit']:.4f} s/epoch")
    print(f"hand       {med['hand']:.4f} s/epoch   hand/fit = {ratio['hand']:.3f}   (goal >= 0.98)")
    print(f"bare       {med['bare']:.4f} s/epoch   bare/fit = {ratio['bare']:.3f}   "
          f"(fit's own loader and fused Adam, nothing reported: what fit's bookkeeping costs)")


if __name__ == "__main__":
    main()
