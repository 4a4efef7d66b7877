"""Benchmark: layerlab's `fit` against a hand-written loop on the course MLP (784-64-10).

Fashion-MNIST (or MNIST / digits when it is absent), batch 128, Adam 1e-3, one process,
alternating the two so both see the same machine state, both with the optimizer fit builds
(fused Adam), so the ratio isolates what fit adds: the per-batch uint8 -> float transform, train
metrics, progress, divergence checks. Prints seconds/epoch and the ratio hand/fit (>= 0.98 means
fit adds under 2%). Usage: python benchmarks/fit_vs_hand.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from layerlab.data import BatchLoader, get_dataset
from layerlab.data.transforms import float_normalize
from layerlab.engine import fit
from layerlab.engine.optim import get_optimizer
from layerlab.errors import LayerlabError
from layerlab.models import get_model


def load() -> tuple[str, object]:
    for name in ("fashion-mnist", "mnist"):
        try:
            return name, get_dataset(name, split="train")
        except LayerlabError:
            continue
    return "digits", get_dataset("digits", split="train")


def hand_epoch(model: torch.nn.Module, loader: BatchLoader, opt: torch.optim.Optimizer) -> None:
    for inputs, targets in loader:
        loss = F.cross_entropy(model(inputs), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    name, train = load()
    transform = float_normalize(train.meta.get("mean"), train.meta.get("std"))
    sizes = (train.inputs[0].numel(), 64, 10)
    ours, theirs = get_model("mlp", sizes=sizes), get_model("mlp", sizes=sizes)
    opt = get_optimizer("adam", theirs, 1e-3)                 # the very optimizer fit builds: only the loop differs
    our_opt = get_optimizer("adam", ours, 1e-3)               # kept across rounds, as the hand loop keeps its own
    loader = BatchLoader(train, 128, shuffle=True, transform=transform)
    fit_times, hand_times = [], []
    for r in range(args.rounds + 1):                        # round 0 warms up both
        start = time.perf_counter()
        fit(ours, train, optimizer=our_opt, epochs=1, batch_size=128, transform=transform,
            device="cpu", progress=False, seed=r)
        t_fit = time.perf_counter() - start
        loader.set_epoch(r)
        start = time.perf_counter()
        hand_epoch(theirs, loader, opt)
        t_hand = time.perf_counter() - start
        if r:
            fit_times.append(t_fit)
            hand_times.append(t_hand)
    f, h = statistics.median(fit_times), statistics.median(hand_times)
    print(f"dataset {name}: {len(train):,} images, batch 128, Adam 1e-3, {torch.get_num_threads()} threads")
    print(f"fit        {f:.3f} s/epoch (median of {args.rounds}; best {min(fit_times):.3f})")
    print(f"hand loop  {h:.3f} s/epoch (median of {args.rounds}; best {min(hand_times):.3f})")
    print(f"ratio hand/fit = {h / f:.3f} of medians, {min(hand_times) / min(fit_times):.3f} of bests  (goal >= 0.98)")


if __name__ == "__main__":
    main()
