"""One process against N processes (DDP over gloo) for one lab on this machine: images per second.

Runs `layerlab run LAB ... --json` in three settings, in a rotating order, for `--rounds` rounds:
one process with torch's default threads (one per core), one process with one thread
(OMP_NUM_THREADS=1), and `--nproc N`, where torchrun gives each process one thread. The middle
one is the fair comparison: when other jobs oversubscribe the cores, a process's threads wait for
each other and one thread is many times faster than two. an epoch's images/second is the training images of the epoch (all processes
together) divided by its seconds in metrics.jsonl (rank 0's clock; start-up and evaluation are
left out). Prints the median per setting with the load average before and after each run: on a
machine shared with other jobs the figures move with the load.

Usage: python benchmarks/ddp_cpu.py [--lab mnist-mlp] [--data ../shared/datasets/mnist] [--nproc 2]
                                    [--epochs 2] [--rounds 2] [--train-images 54000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


def one_run(lab: str, data: str, epochs: int, setting: str, out: Path, images: int) -> list[float]:
    nproc = int(setting.split()[0])
    command = [sys.executable, "-m", "layerlab", "run", lab, "--epochs", str(epochs), "--no-progress", "--json",
               "--out", str(out)] + (["--data-dir", data] if data else []) + (["--nproc", str(nproc)] if nproc > 1 else [])
    env = dict(os.environ) | ({"OMP_NUM_THREADS": "1"} if "1 thread" in setting else {})
    done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    rows = [json.loads(line) for line in (Path(outcome["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
    print(f"  {setting}: epoch seconds {[row['seconds'] for row in rows]}, test_accuracy "
          f"{outcome.get('test_accuracy')}, load {load()}", flush=True)
    return [images / row["seconds"] for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="mnist-mlp")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"))
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--train-images", type=int, default=54_000,
                        help="training images per epoch (mnist-mlp: MNIST's 60,000 less the 10%% held out)")
    args = parser.parse_args()
    settings = ["1 process, default threads", "1 process, 1 thread", f"{args.nproc} processes, 1 thread each"]
    rates: dict[str, list[float]] = {setting: [] for setting in settings}
    with tempfile.TemporaryDirectory() as out:
        for round_ in range(args.rounds):
            print(f"round {round_ + 1} (load {load()})", flush=True)
            for setting in settings[round_ % 3:] + settings[:round_ % 3]:
                rates[setting] += one_run(args.lab, args.data, args.epochs, setting, Path(out), args.train_images)
    for setting, values in rates.items():
        print(f"{args.lab}, {setting}: {statistics.median(values):,.0f} images/s (median of {len(values)} epochs)")


if __name__ == "__main__":
    main()
