"""How fast this machine multiplies matrices right now: the canary that makes a slow phase visible.

A shared machine has slow phases: the same cifar-cnn run has taken 8.5 and 15 minutes. A lab
that reports its wall time also reports this figure at its start and its end, so a slow phase
shows up in the result instead of hiding in it (benchmarks/labs.py brackets every lab with it too).
"""

from __future__ import annotations

import statistics
import time

import torch


def matmul_gflops(size: int = 1024, repeats: int = 20) -> float:
    """GFLOP/s of a size x size float32 matmul on this process's threads (median of `repeats`).

    One product is 2 · size³ floating-point operations (a multiply and an add per term); the
    median ignores a repeat that another process interrupted. ~0.3 s on 2 cores at 1024.
    """
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b  # warm up: the first call allocates and picks its kernel
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times) / 1e9
