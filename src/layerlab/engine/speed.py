"""How fast this machine multiplies matrices right now: the canary that makes a slow phase visible;
and what a run's speed depends on (`machine`, recorded in every run's config.json).

A shared machine has slow phases: the same cifar-cnn run has taken 8.5 and 15 minutes. A lab
that reports its wall time also reports this figure at its start and its end, so a slow phase
shows up in the result instead of hiding in it (benchmarks/labs.py brackets every lab with it too).
"""

from __future__ import annotations

import functools
import platform
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


@functools.cache
def native_bf16(device_type: str) -> bool:
    """Whether bf16 runs at full speed on this kind of device, so that `amp` pays off.

    CUDA: the GPU says (Ampere and newer; torch's emulation on older GPUs does not count). CPU: on x86
    only with the AVX512_BF16 instructions or AMX (Cooper Lake, Sapphire Rapids and later Xeons; AMD
    from Zen 4); elsewhere where oneDNN has bf16 kernels (Arm with bf16). oneDNN also calls bf16
    "supported" on AVX-512 CPUs without AVX512_BF16 (Skylake-X to Ice Lake), but there it converts
    element by element: on a 2-core AVX-512 Xeon without it a 1024x1024 matrix product took 37 ms in
    bf16 against 7.5 ms in float32, a 3x3 convolution (32 -> 32 channels, batch 32 at 14x14) 1.79 ms
    against 0.40 ms, and a dcgan epoch 150 s against 60 s. On an AVX2-only CPU (AMD before Zen 4, most
    Intel laptops) torch emulates it too: on an AMD EPYC with AVX2 the matrix product took 2.63 s
    against 17 ms, a 3x3 convolution 88 ms against 8.9 ms.
    """
    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device_type == "cpu":
        return _cpu_bf16(platform.machine())
    return True  # MPS and others: torch's autocast decides, as before


def _cpu_bf16(architecture: str) -> bool:
    """bf16 at full speed on this CPU (`native_bf16`); `architecture` is `platform.machine()`'s answer."""
    if architecture.lower() in ("x86_64", "amd64", "i386", "i686", "x86"):
        avx512_bf16 = getattr(torch.cpu, "_is_avx512_bf16_supported", None)    # torch's own CPU probe (cpuinfo)
        amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
        return bool((avx512_bf16 is not None and avx512_bf16()) or (amx is not None and amx()))
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without oneDNN: no fast bf16 either
        return False


def machine() -> dict[str, object]:
    """What a run's speed depends on, as config.json records it: torch, threads, the CPU's vector
    unit (torch's name for it), whether bf16 is native there (if not, `amp` trains in float32),
    and the GPU if there is one."""
    facts: dict[str, object] = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                                "cpu": torch.backends.cpu.get_cpu_capability(), "cpu_bf16": native_bf16("cpu")}
    if torch.cuda.is_available():
        facts |= {"gpu": torch.cuda.get_device_name(), "gpu_bf16": native_bf16("cuda")}
    return facts
