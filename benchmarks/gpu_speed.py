"""Benchmark (one CUDA GPU): training images/second of the CNN labs' nets, per precision, layout and compile.

Each row is layerlab's own training step (`Supervised.train`: forward under autocast, loss,
backward, SGD step) on one random batch kept on the GPU, so the figure is the step's speed
without the data pipeline (the lab's own run gives the speed with it: its seconds per epoch).
Rows: fp32 NCHW, fp32 channels_last, bf16 autocast NCHW, bf16 channels_last, the same with
cuDNN's autotuner on (`torch.backends.cudnn.benchmark`, which the labs leave off), and bf16
channels_last under torch.compile (compile time reported apart, not in the images/s). Timed with
torch.cuda.synchronize around `--steps` steps after warm-up steps; median of `--rounds` rounds.

Nets: resnet18-cifar at width 64 (the paper's ResNet-18, 11.2M parameters; the GPU recipe of the
`resnet-cifar` lab) and width 16 (the lab's CPU default), the `cifar-cnn` lab's fast net, and the
Fashion-MNIST CNN of benchmarks/cnn_throughput.py (batch 128, 1x28x28).

`--pipeline` measures instead what the labs' data path costs around that step: `fit`'s own epochs of
the paper's ResNet-18 (bf16, channels_last) on uint8 CIFAR-shaped data (gathered on the CPU, copied,
then normalised, or cropped, flipped and normalised, on the GPU), at batch 128 and 512, with the
copies through pinned memory (`layerlab.data.tensors.host_to_device`, the default) and from pageable
memory (`tensors.PIN_MEMORY = False`, as before it), and a profile of 20 steps of each that counts the
CUDA runtime calls where the CPU can wait for the GPU (synchronise, memcpy). One H200 trained the lab
at 12,900 images/s (batch 128, pageable copies) where the step alone runs 59,000 (batch 512).

Usage (GPU machine): python benchmarks/gpu_speed.py [--rounds 3] [--steps 30] [--json FILE] [--only NAMES]
       python benchmarks/gpu_speed.py --pipeline [--pipeline-images 12288] [--json FILE]
`--device cpu --steps 1 --rounds 1` is a dry run of the script itself on a machine without a GPU.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cnn_throughput import fashion_cnn  # noqa: E402

from layerlab.data import BatchLoader, TensorData, tensors  # noqa: E402
from layerlab.data.transforms import augment_pipeline, eval_pipeline  # noqa: E402
from layerlab.engine import fit  # noqa: E402
from layerlab.engine.speed import machine  # noqa: E402
from layerlab.engine.step import Supervised  # noqa: E402
from layerlab.labs.cifar_cnn import CifarCnnConfig, model_overrides  # noqa: E402
from layerlab.models import get_model  # noqa: E402

NETS = {  # name: (builder, input shape, batch)
    "resnet18-cifar w16": (lambda: get_model("resnet18-cifar", width=16, num_classes=10), (3, 32, 32), 512),
    "cifar-cnn fast": (lambda: _fast(), (3, 32, 32), 512),
    "fashion cnn": (lambda: fashion_cnn(), (1, 28, 28), 128),
    "resnet18-cifar w64": (lambda: get_model("resnet18-cifar", width=64, num_classes=10), (3, 32, 32), 512),
}
VARIANTS = {  # name: (bf16 autocast, channels_last, compile, cudnn.benchmark)
    "fp32 NCHW": (False, False, False, False),
    "fp32 channels_last": (False, True, False, False),
    "bf16 NCHW": (True, False, False, False),
    "bf16 channels_last": (True, True, False, False),
    "bf16 channels_last cudnn.benchmark": (True, True, False, True),
    "bf16 channels_last compile": (True, True, True, False),
}


def _fast() -> nn.Module:
    """The cifar-cnn lab's default net (its whitened stem left at its start: the speed is the same)."""
    name, overrides = model_overrides(CifarCnnConfig(), 10)
    return get_model(name, **overrides)


def _step(model: nn.Module, device: torch.device, *, amp: bool, channels_last: bool, compiled: bool = False) -> Supervised:
    """The labs' supervised step (nesterov SGD) around `model`, on `device`, in training mode."""
    step = Supervised(model, optimizer="sgd", lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4,
                      amp=amp, channels_last=channels_last, compile=compiled).to(device, channels_last=channels_last)
    step.train_mode()
    return step


def measure(net: str, variant: str, rounds: int, steps: int, device: torch.device) -> dict:
    build, shape, batch = NETS[net]
    amp, channels_last, compiled, benchmark = VARIANTS[variant]
    torch.backends.cudnn.benchmark = benchmark   # off, as in the labs, except in its own row
    torch.manual_seed(0)
    step = _step(build(), device, amp=amp, channels_last=channels_last, compiled=compiled)
    x = torch.randn(batch, *shape, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda _: None)
    start = time.perf_counter()
    for _ in range(3):                      # warm-up: cuDNN's choices, and the compile when asked
        step.train((x, y))
    sync(device)
    warm = time.perf_counter() - start
    rates = []
    for _ in range(rounds):
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            step.train((x, y))
        sync(device)
        rates.append(steps * batch / (time.perf_counter() - start))
    return {"net": net, "variant": variant, "batch": batch, "images_per_s": round(statistics.median(rates)),
            "rounds": [round(r) for r in rates], "warmup_s": round(warm, 2)}


def pipeline(device: torch.device, n: int = 12_288) -> list[dict]:
    """fit's images/s (its second epoch) per batch size, transform and copy path, then profiles of 20 steps."""
    g = torch.Generator().manual_seed(0)
    data = TensorData(torch.randint(0, 256, (n, 3, 32, 32), generator=g, dtype=torch.uint8), torch.randint(0, 10, (n,), generator=g))
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    transforms = {"normalise only": eval_pipeline(mean, std, channels_last=True),
                  "lab augmentation": augment_pipeline(mean, std, channels_last=True)}
    same = _same_batches(data, transforms["lab augmentation"], device)
    print(f"pinned and pageable copies give bit-identical augmented batches: {same}", flush=True)
    rows: list[dict] = [{"same_batches": same}]
    for pinned in (False, True):       # False: every copy from pageable memory, as before host_to_device
        tensors.PIN_MEMORY = pinned
        for batch in (128, 512):
            for name, transform in transforms.items():
                torch.manual_seed(0)
                model = get_model("resnet18-cifar", width=64, num_classes=10)
                history = fit(model, data, epochs=2, batch_size=batch, optimizer="sgd", lr=0.01, momentum=0.9, amp=True,
                              channels_last=True, device=str(device), transform=transform, progress=False)
                seconds = history.epochs[-1]["seconds"]
                rows.append({"pinned": pinned, "batch": batch, "transform": name, "images_per_s": round(n / seconds),
                             "epoch_s": seconds})
                print(f"fit, {'pinned' if pinned else 'pageable'} copies, batch {batch:>3}, {name:<16} "
                      f"{rows[-1]['images_per_s']:>8,} images/s", flush=True)
        rows.append({"pinned": pinned, "calls_per_step": _profile(device, data, transforms["lab augmentation"])})
    tensors.PIN_MEMORY = True
    return rows


def _same_batches(data: TensorData, transform, device: torch.device) -> bool:
    """The first 5 augmented batches of one epoch, copied through pinned and through pageable memory."""
    runs = []
    for pinned in (True, False):
        tensors.PIN_MEMORY = pinned
        loader = BatchLoader(data, 128, shuffle=True, transform=transform, device=device, seed=1)
        runs.append([(x.cpu(), y.cpu()) for x, y in itertools.islice(loader, 5)])
    tensors.PIN_MEMORY = True
    return all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(*runs))


def _profile(device: torch.device, data: TensorData, transform) -> dict:
    """The CUDA runtime calls where the host can wait (synchronise, memcpy) per step: 20 steps, batch 128."""
    step = _step(get_model("resnet18-cifar", width=64, num_classes=10), device, amp=True, channels_last=True)
    batches = itertools.cycle(BatchLoader(data, 128, shuffle=True, transform=transform, device=device))
    for _ in range(3):
        step.train(next(batches))
    activities = [torch.profiler.ProfilerActivity.CPU] + [torch.profiler.ProfilerActivity.CUDA] * (device.type == "cuda")
    with torch.profiler.profile(activities=activities) as prof:
        for _ in range(20):
            step.train(next(batches))
    calls = {e.key: e.count / 20 for e in prof.key_averages() if any(w in e.key for w in ("ynchronize", "emcpy", "pin_memory"))}
    print(f"per step (batch 128, lab augmentation, pinned={tensors.PIN_MEMORY}):", json.dumps(calls), flush=True)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8), flush=True)
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--only", default="", help="comma-separated net names (default: all)")
    parser.add_argument("--json", default="", help="also write the rows to this file")
    parser.add_argument("--device", default="cuda", help="cuda (default), or cpu for a dry run of the script")
    parser.add_argument("--variants", default="", help="comma-separated variant names (default: all)")
    parser.add_argument("--compile-nets", default=None, help="comma-separated nets that get the compile row (default: all)")
    parser.add_argument("--pipeline", action="store_true", help="fit's epochs and where its data path waits (see above)")
    parser.add_argument("--pipeline-images", type=int, default=12_288, help="--pipeline: images per epoch")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_speed.py measures a CUDA GPU; this machine has none (benchmarks/cnn_throughput.py is the CPU one)")
    print(json.dumps(machine()), flush=True)
    if args.pipeline:
        rows = pipeline(device, args.pipeline_images)
        if args.json:
            Path(args.json).write_text(json.dumps({"machine": machine(), "pipeline": rows}, indent=1))
        return
    nets = [n.strip() for n in args.only.split(",") if n.strip()] or list(NETS)
    rows = []
    print(f"{'net':<20} {'variant':<36} {'batch':>5} {'images/s':>10} {'warm-up s':>9}")
    for net in nets:
        for variant in [v.strip() for v in args.variants.split(",") if v.strip()] or VARIANTS:
            if VARIANTS[variant][2] and args.compile_nets is not None and net not in args.compile_nets.split(","):
                continue
            row = measure(net, variant, args.rounds, args.steps, device)
            rows.append(row)
            print(f"{net:<20} {variant:<36} {row['batch']:>5} {row['images_per_s']:>10,} {row['warmup_s']:>9}", flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
