"""Re-run the labs of the README's table, one at a time, each bracketed by a matmul canary.

This machine has slow phases (the same lab has taken 8.5 and 15 minutes): the canary (GFLOP/s of
a 1024x1024 float32 matmul, median of 20) before and after each lab says whether its wall time
came from one. Prints one line per lab and writes the whole table as JSON.

Usage: python benchmarks/labs.py [--only mnist-mlp,cifar-cnn] [--data ../shared/datasets] [--out runs-bench]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from layerlab.engine.speed import matmul_gflops as canary

# (name in the table, lab, extra arguments; {data} is the shared datasets folder)
LABS = [
    ("cubic-sin", "cubic-sin", []),
    ("cubic-sin seed 1", "cubic-sin", ["--seed", "1"]),
    ("mnist-mlp", "mnist-mlp", ["--data-dir", "{data}/mnist"]),
    ("mnist-mlp fashion", "mnist-mlp", ["--dataset", "fashion-mnist"]),
    ("mnist-mlp digits", "mnist-mlp", ["--dataset", "digits", "--epochs", "30", "--batch-size", "32"]),
    ("house-prices boston", "house-prices", ["--data-dir", "{data}/boston-housing"]),
    ("house-prices california", "house-prices", ["--dataset", "california-housing", "--data-dir",
                                                 "{data}/california-housing", "--epochs", "60", "--batch-size", "128"]),
    ("lenet-mnist", "lenet-mnist", ["--data-dir", "{data}/mnist"]),
    ("stock-rnn", "stock-rnn", ["--data-dir", "{data}/nflx-stock"]),
    ("seq2seq-attention", "seq2seq-attention", ["--data-dir", "{data}/kor-eng"]),
    ("vae", "vae", ["--data-dir", "{data}/mnist"]),
    ("autoencoder", "autoencoder", ["--data-dir", "{data}/mnist"]),
    ("autoencoder denoise", "autoencoder", ["--denoise", "--data-dir", "{data}/mnist"]),
    ("transfer-vgg16", "transfer-vgg16", ["--data-dir", "{data}/cifar10-jpg"]),
    ("resnet-cifar", "resnet-cifar", ["--data-dir", "{data}/cifar10-jpg"]),
    ("char-rnn", "char-rnn", ["--data-dir", "{data}/tiny-shakespeare"]),
    ("cifar-cnn", "cifar-cnn", ["--data-dir", "{data}/cifar10-jpg"]),
    ("vanishing-gradients", "vanishing-gradients", ["--data-dir", "{data}/mnist"]),
    ("alexnet-norm", "alexnet-norm", ["--data-dir", "{data}/cifar10-jpg"]),
    ("degradation", "degradation", ["--data-dir", "{data}/cifar10-jpg"]),
]


def run(lab: str, args: list[str], out: str) -> tuple[dict, float]:
    command = [sys.executable, "-m", "layerlab", "run", lab, "--json", "--no-progress", "--out", out, *args]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}, seconds
    return json.loads(done.stdout.strip().splitlines()[-1]), seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets"))
    parser.add_argument("--out", default="runs-bench")
    parser.add_argument("--json", default="lab-times.json")
    args = parser.parse_args()
    chosen = set(filter(None, args.only.split(",")))
    rows = []
    for name, lab, extra in LABS:
        if chosen and name not in chosen and lab not in chosen:
            continue
        before = canary()
        outcome, seconds = run(lab, [a.format(data=args.data) for a in extra], args.out)
        after = canary()
        rows.append({"name": name, "wall_s": round(seconds, 1), "canary_before": round(before, 1),
                     "canary_after": round(after, 1), **outcome})
        metrics = {k: v for k, v in outcome.items() if isinstance(v, float) and k != "seconds"}
        shown = ", ".join(f"{k} {v:.4f}" for k, v in list(metrics.items())[:6]) or outcome.get("error", "")
        print(f"{name:<24} {seconds:7.1f} s  canary {before:5.0f} -> {after:5.0f} GFLOP/s  {shown}", flush=True)
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
