"""Benchmark: training images/second of `cifar-cnn` (the lab's default config) and `resnet18-cifar`.

One process, every variant measured in turn and the turns alternated, so all of them see the same
machine state; each number is the median of several repeats. Variants: fp32 vs bf16 autocast,
NCHW vs channels_last. Then `fit` vs a hand-written loop on cifar-cnn with the lab's recipe
(augmentation, label smoothing, nesterov SGD, one-cycle, bf16, channels_last), alternating, and
the ratio hand/fit (>= 0.98 means fit adds under 2%). Random uint8 images stand in for CIFAR-10:
the speed of a step does not depend on the pixels. On a CPU without native bf16 (AVX2 only) the
bf16 rows are left out (torch would emulate bf16, 10-150x slower) and the recipes that ask for
bf16 run in float32, as layerlab's `amp` does there.

Then the Fashion-MNIST CNN of the Keras tutorial (conv 1→32 3x3, pool, conv 32→64 3x3, pool,
fc 3136→128, fc 128→10; batch 128, Adam 1e-3) on the real 60,000 images: first what each way of
running its first layer costs (the conv over ONE input channel is memory bound: 9 multiply-adds
per output value), then `fit` against hand-written loops of the same model, seconds per epoch
and test accuracy after the same epochs.

Usage: python benchmarks/cnn_throughput.py [--rounds 5] [--only layouts,fit-vs-hand,fashion-layers,fashion]
       [--fashion-epochs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerlab.data import BatchLoader, TensorData, get_dataset
from layerlab.data.transforms import augment_pipeline, float_normalize
from layerlab.engine import evaluate, fit
from layerlab.engine.optim import get_schedule
from layerlab.engine.speed import matmul_gflops as canary
from layerlab.engine.speed import native_bf16
from layerlab.engine.step import autocast
from layerlab.labs.cifar_cnn import CifarCnnConfig, model_overrides
from layerlab.models import get_model

LAB = CifarCnnConfig()
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
BF16 = native_bf16("cpu")         # False: the bf16 rows are left out, bf16 recipes run in float32
NO_BF16 = "bf16 rows left out: this CPU has no native bf16 (torch would emulate it, 10-150x slower)"
CPU = torch.device("cpu")


def fake_cifar(n: int, seed: int = 0) -> TensorData:
    g = torch.Generator().manual_seed(seed)
    return TensorData(torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8),
                      torch.randint(0, 10, (n,), generator=g))


def build(name: str) -> nn.Module:
    """"cifar-cnn": the lab's default net (`--net fast`); "cifar-cnn-blocks": the course's blocks with BN (`--net blocks`)."""
    if name.startswith("cifar-cnn"):
        model, overrides = model_overrides(replace(LAB, net="blocks") if name == "cifar-cnn-blocks" else LAB, 10)
        return get_model(model, **overrides)
    return get_model(name)


def images_per_second(model: nn.Module, data: TensorData, batch: int, *, amp: bool, channels_last: bool) -> float:
    """A plain training loop (forward, loss, backward, SGD step) over `data`; images per second."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    start = time.perf_counter()
    for inputs, targets in BatchLoader(data, batch, transform=augment_pipeline(MEAN, STD, channels_last=channels_last)):
        with autocast(CPU, amp):
            loss = loss_fn(model(inputs), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return len(data) / (time.perf_counter() - start)


def layout_table(rounds: int) -> None:
    variants = [(name, amp, cl) for name in ("cifar-cnn", "cifar-cnn-blocks", "resnet18-cifar")
                for amp in ((False, True) if BF16 else (False,)) for cl in (False, True)]
    sizes = {"cifar-cnn": (2048, 1024), "cifar-cnn-blocks": (1024, 256), "resnet18-cifar": (256, 128)}  # (images per repeat, batch)
    models = {v: build(v[0]) for v in variants}
    rates: dict[tuple, list[float]] = {v: [] for v in variants}
    for r in range(rounds + 1):                       # round 0 warms up every variant
        for v in variants:
            n, batch = sizes[v[0]]
            rate = images_per_second(models[v], fake_cifar(n, r), batch, amp=v[1], channels_last=v[2])
            if r:
                rates[v].append(rate)
    if not BF16:
        print(NO_BF16)
    print(f"{'model':<18} {'precision':<10} {'layout':<14} {'images/s':>9}")
    for (name, amp, cl), values in rates.items():
        print(f"{name:<18} {'bf16' if amp else 'fp32':<10} {'channels_last' if cl else 'NCHW':<14} "
              f"{statistics.median(values):>9.0f}")


def hand_epoch(model: nn.Module, loader: BatchLoader, opt: torch.optim.Optimizer, sched, loss_fn: nn.Module) -> None:
    for inputs, targets in loader:
        with autocast(CPU, True):                     # bf16 where native, float32 elsewhere (as fit's amp)
            loss = loss_fn(model(inputs), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()


def fit_vs_hand(rounds: int, n: int = 2048) -> None:
    """fit against a hand loop on the course's blocks with BN and their recipe (the lab's old default:
    `--net blocks --batch-size 256 --lr 0.1 --momentum 0.9 --weight-decay 5e-4 --label-smoothing 0.1`)."""
    recipe = replace(LAB, net="blocks", batch_size=256, lr=0.1, momentum=0.9, weight_decay=5e-4, label_smoothing=0.1)
    data = fake_cifar(n)
    transform = augment_pipeline(MEAN, STD, channels_last=True)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    ours, theirs = build("cifar-cnn-blocks"), build("cifar-cnn-blocks").to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(theirs.parameters(), lr=recipe.lr, momentum=recipe.momentum, nesterov=True,
                          weight_decay=recipe.weight_decay)
    loader = BatchLoader(data, recipe.batch_size, shuffle=True, transform=transform)
    sched = get_schedule("one-cycle", opt, len(loader), rounds + 1)
    fit_times, hand_times = [], []
    for r in range(rounds + 1):                       # round 0 warms up both
        start = time.perf_counter()
        fit(ours, data, loss=loss_fn, optimizer="sgd", lr=recipe.lr, momentum=recipe.momentum, nesterov=True,
            weight_decay=recipe.weight_decay, schedule="one-cycle", epochs=1, batch_size=recipe.batch_size, amp=True,
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
    print(f"cifar-cnn --net blocks, its recipe ({'bf16' if BF16 else 'float32: no native bf16'}), {n:,} images, batch {recipe.batch_size}: "
          f"fit {n / f:.0f} images/s, hand loop {n / h:.0f} images/s (median of {rounds})")
    print(f"ratio hand/fit = {h / f:.3f}  (goal >= 0.98)")


# --- the Fashion-MNIST CNN ------------------------------------------------------------------------

class PatchConv(nn.Module):
    """A 3x3 'same' convolution over a one-channel image written as ONE matrix product.

    The image's 3x3 neighbourhoods become rows of a (B·H·W, 9) matrix (F.unfold), multiplied by
    the (9, out) weights: the result is already in channels_last order (B, H, W, out). Same
    parameters and the same numbers as nn.Conv2d(1, out, 3, padding=1), which it is built from.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.weight, self.bias = conv.weight, conv.bias  # (out, 1, 3, 3), (out,)

    def forward(self, x: Tensor) -> Tensor:  # x: (B, 1, H, W)
        b, _, h, w = x.shape
        patches = F.unfold(x, kernel_size=3, padding=1).transpose(1, 2)  # (B, H·W, 9)
        out = torch.addmm(self.bias, patches.reshape(-1, 9), self.weight.view(len(self.bias), 9).t())  # (B·H·W, out)
        return out.view(b, h, w, -1).permute(0, 3, 1, 2)  # (B, out, H, W), stored as channels_last


class Float32(nn.Module):
    """Runs its layers in float32 inside a bf16 autocast region (the next layer casts back to bf16)."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast("cpu", enabled=False):
            return self.layers(x.float())


def fashion_cnn(*, pool_then_relu: bool = False, patch_conv: bool = False, fp32_first: bool = False) -> nn.Sequential:
    """conv 1→32 3x3, pool, conv 32→64 3x3, pool, fc 3136→128, fc 128→10 (seed 0: the same start for all).

    `pool_then_relu` swaps MaxPool and ReLU: max(relu(a), relu(b)) = relu(max(a, b)), so the
    outputs and gradients are the same, and ReLU touches a quarter of the values. `fp32_first`
    keeps the first conv, its pool and ReLU in float32 under bf16 autocast: on this CPU
    max_pool2d of (128, 32, 28, 28) channels_last takes 9 ms forward + backward in float32 and
    16 ms in bf16 (benchmarks measured with one thread), and it is the largest tensor of the net.
    """
    torch.manual_seed(0)
    conv1 = nn.Conv2d(1, 32, 3, padding=1)                       # (B, 32, 28, 28)

    def act_pool() -> list[nn.Module]:
        return [nn.MaxPool2d(2), nn.ReLU()] if pool_then_relu else [nn.ReLU(), nn.MaxPool2d(2)]

    first = [PatchConv(conv1) if patch_conv else conv1, *act_pool()]  # (B, 32, 14, 14)
    return nn.Sequential(*([Float32(*first)] if fp32_first else first),
                         nn.Conv2d(32, 64, 3, padding=1), *act_pool(),  # (B, 64, 7, 7)
                         nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))


FASHION_VARIANTS = {  # name: (model options, bf16 autocast, channels_last)
    "fp32 NCHW (the textbook loop)": ({}, False, False),
    "fp32 channels_last": ({}, False, True),
    "bf16 channels_last": ({}, True, True),
    "bf16 NCHW": ({}, True, False),
    "bf16 channels_last, pool then ReLU": ({"pool_then_relu": True}, True, True),
    "bf16 NCHW, pool then ReLU": ({"pool_then_relu": True}, True, False),
    "bf16, first conv as one matmul, pool then ReLU": ({"pool_then_relu": True, "patch_conv": True}, True, True),
    "bf16 channels_last, first conv + pool in fp32": ({"fp32_first": True}, True, True),
    "bf16 channels_last, first conv + pool in fp32, pool then ReLU": ({"pool_then_relu": True, "fp32_first": True}, True, True),
    "fp32 channels_last, pool then ReLU": ({"pool_then_relu": True}, False, True),
}


def fashion_data() -> tuple[TensorData, TensorData]:
    return get_dataset("fashion-mnist", split="train"), get_dataset("fashion-mnist", split="test")


def fashion_layer_table(rounds: int, steps: int = 40) -> None:
    """Training steps (batch 128, Adam) of each variant in turn, each round; seconds per 60,000 images."""
    train, _ = fashion_data()
    x, _ = float_normalize(train.meta["mean"], train.meta["std"])(train.inputs[: 128 * steps], None, torch.Generator())
    y = train.targets[: 128 * steps]
    runs = {}
    for name, (options, amp, cl) in FASHION_VARIANTS.items():
        if amp and not BF16:
            continue
        model = fashion_cnn(**options).to(memory_format=torch.channels_last if cl else torch.contiguous_format)
        runs[name] = (model, torch.optim.Adam(model.parameters(), lr=1e-3, fused=True), amp, cl)
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(rounds + 1):                       # round 0 warms up every variant
        for name, (model, opt, amp, cl) in runs.items():
            start = time.perf_counter()
            for i in range(steps):
                inputs = x[i * 128:(i + 1) * 128]
                inputs = inputs.contiguous(memory_format=torch.channels_last) if cl else inputs
                with autocast(CPU, amp):
                    loss = F.cross_entropy(model(inputs), y[i * 128:(i + 1) * 128])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            if r:
                seconds[name].append((time.perf_counter() - start) / (128 * steps) * 60_000)
    print(f"\nFashion-MNIST CNN, batch 128, {steps} steps a round, median of {rounds}: seconds per 60,000 images")
    if not BF16:
        print(NO_BF16)
    for name, values in seconds.items():
        print(f"  {name:<64} {statistics.median(values):6.2f}")


def hand_fashion(epochs: int, train: TensorData, test: TensorData, *, fast: bool) -> tuple[list[float], float]:
    """The loop a PyTorch user writes: floats normalised once, randperm, x[idx], torch.optim.Adam.

    `fast` gives it fit's speed options (bf16 autocast where native, channels_last, pool then ReLU, fused Adam).
    """
    norm = float_normalize(train.meta["mean"], train.meta["std"])
    x, _ = norm(train.inputs, None, torch.Generator())
    x_test, _ = norm(test.inputs, None, torch.Generator())
    model = fashion_cnn(pool_then_relu=fast)
    if fast:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fast or None)
    g, times = torch.Generator().manual_seed(0), []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        for idx in torch.randperm(len(x), generator=g).split(128):
            with autocast(CPU, fast):
                loss = F.cross_entropy(model(x[idx]), train.targets[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - start)
    model.eval()
    with torch.no_grad(), autocast(CPU, fast):
        right = sum((model(xb).argmax(1) == yb).sum().item() for xb, yb in zip(x_test.split(1000), test.targets.split(1000)))
    return times, right / len(test)


def fit_fashion(epochs: int, train: TensorData, test: TensorData, *, amp: bool, channels_last: bool,
                pool_then_relu: bool) -> tuple[list[float], float]:
    model = fashion_cnn(pool_then_relu=pool_then_relu)
    history = fit(model, train, optimizer="adam", lr=1e-3, epochs=epochs, batch_size=128, amp=amp,
                  channels_last=channels_last, device="cpu", progress=False)
    return history.series("seconds"), evaluate(model, test, amp=amp)["accuracy"]


def fashion_fit_vs_hand(epochs: int) -> None:
    """Each contender trains `epochs` epochs from the same start; s/epoch = median after the first."""
    train, test = fashion_data()
    contenders = {
        "fit, bf16 + channels_last, pool then ReLU": lambda: fit_fashion(epochs, train, test, amp=True, channels_last=True, pool_then_relu=True),
        "fit, bf16 + channels_last": lambda: fit_fashion(epochs, train, test, amp=True, channels_last=True, pool_then_relu=False),
        "fit, fp32 + channels_last, pool then ReLU": lambda: fit_fashion(epochs, train, test, amp=False, channels_last=True, pool_then_relu=True),
        "fit, fp32": lambda: fit_fashion(epochs, train, test, amp=False, channels_last=False, pool_then_relu=False),
        "hand loop, the same speed options": lambda: hand_fashion(epochs, train, test, fast=True),
        "hand loop, fp32 (as users write it)": lambda: hand_fashion(epochs, train, test, fast=False),
    }
    if not BF16:                                  # the bf16 rows would be float32 ones again; the hand loop's too
        contenders = {name: run for name, run in contenders.items() if "bf16" not in name}
        print(NO_BF16 + "; 'the same speed options' are float32 here")
    print(f"\nFashion-MNIST CNN: {len(train):,} training images, batch 128, Adam 1e-3, {epochs} epochs")
    print(f"| contender | s/epoch | test accuracy |\n|---|---|---|")
    for name, train_it in contenders.items():
        times, accuracy = train_it()
        print(f"| {name} | {statistics.median(times[1:] or times):.2f} | {accuracy:.4f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default="layouts,fit-vs-hand,fashion-layers,fashion")
    parser.add_argument("--fashion-epochs", type=int, default=5)
    args = parser.parse_args()
    parts = args.only.split(",")
    torch.manual_seed(0)
    print(f"{torch.get_num_threads()} threads, torch {torch.__version__}, canary {canary():.0f} GFLOP/s")
    if "layouts" in parts:
        layout_table(args.rounds)
    if "fit-vs-hand" in parts:
        fit_vs_hand(args.rounds)
    if "fashion-layers" in parts:
        fashion_layer_table(args.rounds)
    if "fashion" in parts:
        fashion_fit_vs_hand(args.fashion_epochs)
    print(f"canary at the end {canary():.0f} GFLOP/s")


if __name__ == "__main__":
    main()
