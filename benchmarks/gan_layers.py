"""The dcgan lab's step on a CPU: where its time goes, and what computing two layers as products saves.

1. Each layer of the lab's networks (width 32, batch 32, channels_last), forward + backward, in ms:
   G's first layer (a transposed conv on the 1x1 noise) and D's last (a conv whose 7x7 kernel covers
   its 7x7 input) as torch's convolution calls and as the matrix / dot products models/gan.py's
   `Project` and `Score` compute them.
2. The whole step (`GanStep.train`, R1 every 16th step, the average followed) in ms per 1,000 images:
   torch's convolution classes with Adam's per-tensor loop (the step before) against today's step
   (`Project`, `Score`, fused Adam), alternating in rounds in one process so that a slow phase of the
   machine hits both; medians of the rounds, and each round's ratio.
3. What D's depth costs: the dcgan lab's step as its defaults build it (width 32, one extra layer in G at 7x7
   and one at 14x14, 16 maps at 28x28, the average at 0.999, R1 every 16th step, Adam 3e-4, betas (0, 0.99)) with
   1 to 4 extra 3x3 layers in D at 14x14 (`--depths`), alternating in rounds the same way; each depth's
   median and its ratio to the first depth's, so that an epoch's seconds measured at one depth give another's.

Usage: python benchmarks/gan_layers.py [--threads 2] [--rounds 8] [--steps 48] [--depths 1,2,3,4]
Run alone: a second process on 2 cores slows both many times over.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from layerlab.engine.speed import matmul_gflops
from layerlab.labs.dcgan import DcganConfig
from layerlab.models import get_model
from layerlab.models.gan import Project, Score, dcgan_init_
from layerlab.tasks.gan import GanStep

CL = torch.channels_last


def _layer_ms(layer: nn.Module, shape: tuple[int, ...], n: int = 50) -> float:
    layer = layer.to(memory_format=CL)
    x = torch.randn(shape).contiguous(memory_format=CL).requires_grad_(True)
    for i in range(n + 5):
        if i == 5:
            start = time.perf_counter()
        layer(x).sum().backward()
    return (time.perf_counter() - start) / n * 1e3


def _step(before: bool) -> GanStep:
    gan = dcgan_init_(get_model("dcgan", width=32, g_extra=1, d_extra=1, g_fine=1, average=True), torch.Generator().manual_seed(0))
    if before:                                   # torch's own classes: the convolution library computes both layers
        for generator in (gan.generator, gan.average):
            generator.net[0].__class__ = nn.ConvTranspose2d
        gan.discriminator.net[-1].__class__ = nn.Conv2d
    gan = gan.to(memory_format=CL)
    step = GanStep(gan.generator, gan.discriminator, r1=1.0, r1_every=16, average=gan.average)
    if before:                                   # Adam's per-tensor loop, as GanStep built it before
        step.optimizers = {name: torch.optim.Adam(opt.param_groups[0]["params"], lr=2e-4, betas=(0.5, 0.999), foreach=False)
                           for name, opt in step.optimizers.items()}
    return step


def _lab_step(d_extra: int) -> GanStep:
    """The dcgan lab's networks and step as its defaults (DcganConfig) build them, with `d_extra` extra layers in D."""
    lab = DcganConfig()
    gan = get_model("dcgan", width=lab.width, g_extra=lab.g_extra, d_extra=d_extra, g_fine=lab.g_fine, g_full=lab.g_full,
                    average=True)
    gan = dcgan_init_(gan, torch.Generator().manual_seed(0)).to(memory_format=CL)
    return GanStep(gan.generator, gan.discriminator, lr=lab.lr, betas=(lab.beta1, lab.beta2), r1=lab.r1,
                   r1_every=lab.r1_every, average=gan.average, ema=lab.ema)


def _rounds(steps: dict[str, GanStep], batches: list, rounds: int, n: int) -> dict[str, list[float]]:
    """ms per 1,000 images of each step, measured in turn in every round (warmed after the others ran)."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            for batch in batches[:2]:
                step.train(batch)                # warm: the other variant ran last
            start = time.perf_counter()
            for i in range(n):
                step.train(batches[i % len(batches)])
            times[name].append((time.perf_counter() - start) / (n * 32) * 1e6)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=48)
    parser.add_argument("--depths", default="1,2,3,4", help="D's extra layers to compare (part 3)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"canary before: {matmul_gflops():.0f} GFLOP/s", flush=True)
    print("1. forward + backward of one layer, batch 32, channels_last (ms):")
    pairs = {"G's first layer, 100 -> 64 maps of 7x7": ((nn.ConvTranspose2d, Project), (100, 64, 7), (32, 100, 1, 1)),
             "D's last layer, 64 maps of 7x7 -> 1 logit": ((nn.Conv2d, Score), (64, 1, 7), (32, 64, 7, 7))}
    for name, ((library, product), (cin, cout, k), shape) in pairs.items():
        print(f"  {name}: convolution call {_layer_ms(library(cin, cout, k, bias=False), shape):.2f}, "
              f"product {_layer_ms(product(cin, cout, k, bias=False), shape):.2f}", flush=True)
    g = torch.Generator().manual_seed(0)
    batches = [((torch.rand(32, 1, 28, 28, generator=g) * 2 - 1).contiguous(memory_format=CL), torch.randn(32, 100, generator=g))
               for _ in range(8)]
    steps = {"before (torch's conv classes, per-tensor Adam)": _step(True), "today (Project, Score, fused Adam)": _step(False)}
    times = _rounds(steps, batches, args.rounds, args.steps)
    print(f"2. GanStep.train at {args.threads} threads, ms per 1,000 images (median of {args.rounds} rounds):")
    for name, values in times.items():
        print(f"  {name}: {statistics.median(values):.0f}  (rounds {[round(v) for v in values]})")
    before, today = times.values()
    ratios = [b / t for b, t in zip(before, today)]
    print(f"  before / today: median {statistics.median(ratios):.2f} (rounds {min(ratios):.2f}-{max(ratios):.2f})")
    depths = [int(d) for d in args.depths.split(",")]
    times = _rounds({f"d_extra {d}": _lab_step(d) for d in depths}, batches, args.rounds, args.steps)
    print(f"3. the lab's step by D's extra layers, ms per 1,000 images (median of {args.rounds} rounds; x the first):")
    first = times[f"d_extra {depths[0]}"]
    for name, values in times.items():
        ratios = [v / f for v, f in zip(values, first)]
        print(f"  {name}: {statistics.median(values):.0f}  x{statistics.median(ratios):.2f} "
              f"(rounds {min(ratios):.2f}-{max(ratios):.2f})", flush=True)
    print(f"canary after: {matmul_gflops():.0f} GFLOP/s")


if __name__ == "__main__":
    main()
