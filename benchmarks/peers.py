"""Benchmark: the course MLP (784-64-10) trained the way users would do it with other tools.

Same data (Fashion-MNIST, 60,000 training images, or MNIST / digits when absent), batch 128,
Adam 1e-3, the same number of epochs, in ONE process and one after another, so every contender
sees the same machine: layerlab's `fit`, a hand-written torch loop, a torch
`DataLoader(TensorDataset)` loop, Lightning, Keras 3 (torch backend) and scikit-learn's
`MLPClassifier`. Prints seconds per epoch (median over the epochs after the first, which warms
up; then the median over rounds, each running every contender in a rotated order) and test
accuracy after the last epoch. The peers live in .bench-venv (`make bench`), never in
layerlab's dependencies. Usage: python benchmarks/peers.py [--epochs 6] [--rounds 3] [--only fit,keras]
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import os
import statistics
import time
import warnings
from typing import Callable

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from layerlab.data import get_dataset
from layerlab.data.transforms import float_normalize
from layerlab.engine import evaluate, fit
from layerlab.errors import LayerlabError
from layerlab.models import get_model

BATCH, LR = 128, 1e-3


class Data:
    """The uint8 images for layerlab, and the float32 normalised copies the peers are given."""

    def __init__(self) -> None:
        for name in ("fashion-mnist", "mnist", "digits"):
            try:
                self.train, self.test = get_dataset(name, split="train"), get_dataset(name, split="test")
                self.name = name
                break
            except LayerlabError:
                continue
        self.mean, self.std = self.train.meta.get("mean"), self.train.meta.get("std")
        self.transform = float_normalize(self.mean, self.std)
        self.x, self.y = self.floats(self.train), self.train.targets
        self.x_test, self.y_test = self.floats(self.test), self.test.targets
        self.pixels = self.x.shape[1]

    def floats(self, data) -> torch.Tensor:
        x, _ = self.transform(data.inputs, data.targets, torch.Generator())
        return x.reshape(len(x), -1).contiguous()


def mlp(pixels: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(pixels, 64), nn.ReLU(), nn.Linear(64, 10))


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def timed_epochs(epochs: int, one_epoch: Callable[[int], None]) -> list[float]:
    times = []
    for epoch in range(epochs):
        start = time.perf_counter()
        one_epoch(epoch)
        times.append(time.perf_counter() - start)
    return times


def run_layerlab(d: Data, epochs: int) -> tuple[list[float], float]:
    torch.manual_seed(0)
    model = get_model("mlp", sizes=(d.pixels, 64, 10))
    history = fit(model, d.train, optimizer="adam", lr=LR, epochs=epochs, batch_size=BATCH,
                  transform=d.transform, device="cpu", progress=False)
    acc = evaluate(model, d.test, transform=d.transform)["accuracy"]
    return history.series("seconds"), acc


def train_pass(model: nn.Module, opt: torch.optim.Optimizer, batches) -> None:
    """The loop everyone writes by hand: forward, loss, backward, step."""
    model.train()
    for inputs, targets in batches:
        loss = F.cross_entropy(model(inputs), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def run_hand(d: Data, epochs: int) -> tuple[list[float], float]:
    model = mlp(d.pixels)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    g = torch.Generator().manual_seed(0)

    def one_epoch(epoch: int) -> None:
        order = torch.randperm(len(d.x), generator=g)
        idxs = (order[start:start + BATCH] for start in range(0, len(order), BATCH))
        train_pass(model, opt, ((d.x[idx], d.y[idx]) for idx in idxs))

    times = timed_epochs(epochs, one_epoch)
    return times, accuracy(model, d.x_test, d.y_test)


def run_dataloader(d: Data, epochs: int) -> tuple[list[float], float]:
    from torch.utils.data import DataLoader, TensorDataset

    model = mlp(d.pixels)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loader = DataLoader(TensorDataset(d.x, d.y), batch_size=BATCH, shuffle=True)

    times = timed_epochs(epochs, lambda epoch: train_pass(model, opt, loader))
    return times, accuracy(model, d.x_test, d.y_test)


def run_lightning(d: Data, epochs: int) -> tuple[list[float], float]:
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = mlp(d.pixels)

        def training_step(self, batch, batch_idx):
            inputs, targets = batch
            return F.cross_entropy(self.net(inputs), targets)

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=LR)

    class Timer(L.Callback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_train_epoch_start(self, trainer, module) -> None:
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, module) -> None:
            self.times.append(time.perf_counter() - self.start)

    module, timer = Module(), Timer()
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[timer])
    trainer.fit(module, DataLoader(TensorDataset(d.x, d.y), batch_size=BATCH, shuffle=True))
    return timer.times, accuracy(module.net, d.x_test, d.y_test)


def run_keras(d: Data, epochs: int) -> tuple[list[float], float]:
    import keras

    keras.utils.set_random_seed(0)

    class Timer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []

        def on_epoch_begin(self, epoch, logs=None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None) -> None:
            self.times.append(time.perf_counter() - self.start)

    model = keras.Sequential([keras.Input((d.pixels,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.Adam(LR), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    timer = Timer()
    model.fit(d.x.numpy(), d.y.numpy(), batch_size=BATCH, epochs=epochs, verbose=0, callbacks=[timer])
    _, acc = model.evaluate(d.x_test.numpy(), d.y_test.numpy(), batch_size=1024, verbose=0)
    return timer.times, float(acc)


def run_sklearn(d: Data, epochs: int) -> tuple[list[float], float]:
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=(64,), solver="adam", learning_rate_init=LR, batch_size=BATCH,
                        random_state=0)
    x, y, classes = d.x.numpy(), d.y.numpy(), np.arange(10)
    times = timed_epochs(epochs, lambda epoch: clf.partial_fit(x, y, classes=classes))
    return times, float(clf.score(d.x_test.numpy(), d.y_test.numpy()))


CONTENDERS = {
    "fit": ("layerlab fit", "layerlab", run_layerlab),
    "hand": ("hand-written torch loop", "torch", run_hand),
    "dataloader": ("torch DataLoader(TensorDataset) loop", "torch", run_dataloader),
    "lightning": ("Lightning Trainer", "lightning", run_lightning),
    "keras": ("Keras 3, torch backend", "keras", run_keras),
    "sklearn": ("scikit-learn MLPClassifier", "scikit-learn", run_sklearn),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3, help="every contender once per round, the order rotating")
    parser.add_argument("--only", default=",".join(CONTENDERS))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    d = Data()
    print(f"{d.name}: {len(d.x):,} training images, {len(d.x_test):,} test; MLP {d.pixels}-64-10, batch {BATCH}, "
          f"Adam {LR:g}, {args.epochs} epochs, {torch.get_num_threads()} threads, {args.rounds} rounds")
    versions = {}
    for key in args.only.split(","):
        label, package, _ = CONTENDERS[key]
        try:
            versions[key] = md.version(package)
        except md.PackageNotFoundError:
            print(f"{label:40s} skipped: {package} is not installed (make bench installs it into .bench-venv)")
    keys = list(versions)
    seconds: dict[str, list[float]] = {key: [] for key in keys}
    accuracy_of: dict[str, float] = {}
    fastest = dict.fromkeys(keys, 0)
    for r in range(args.rounds):     # the machine has slow phases: rotating the order spreads them over everyone
        this_round = {}
        for key in keys[r % len(keys):] + keys[: r % len(keys)]:
            label, _, run = CONTENDERS[key]
            times, accuracy_of[key] = run(d, args.epochs)
            this_round[key] = statistics.median(times[1:] or times)   # epoch 1 warms up
            seconds[key].append(this_round[key])
            print(f"round {r + 1}  {label:40s} {this_round[key]:6.3f} s/epoch   test accuracy {accuracy_of[key]:.4f}", flush=True)
        fastest[min(this_round, key=this_round.get)] += 1
    rows = sorted((statistics.median(seconds[key]), key) for key in keys)
    print(f"\n| tool | version | s/epoch (median of {args.rounds} rounds) | fastest in | test accuracy |\n|---|---|---|---|---|")
    for per_epoch, key in rows:
        print(f"| {CONTENDERS[key][0]} | {versions[key]} | {per_epoch:.3f} | {fastest[key]}/{args.rounds} | {accuracy_of[key]:.4f} |")


if __name__ == "__main__":
    main()
