"""Shared test set-up: headless plots, quiet threads, a path to the real shared datasets."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
torch.set_num_threads(1)   # tests run beside each other on 2 shared cores; one thread each is fastest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATASETS = REPO.parent / "shared" / "datasets"


@pytest.fixture
def shared_datasets() -> Path:
    """../shared/datasets, the read-only real copies; tests that need it skip when it is absent."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip("../shared/datasets is not beside this checkout")
    return SHARED_DATASETS


@pytest.fixture
def cpu_flags_bf16() -> bool:
    """Whether this CPU has bf16 instructions, as the kernel's /proc/cpuinfo says on x86 Linux (AVX512_BF16
    or AMX; a probe independent of torch's), elsewhere as oneDNN says."""
    import platform

    if platform.machine() == "x86_64" and Path("/proc/cpuinfo").is_file():
        flags = set(Path("/proc/cpuinfo").read_text().split())
        return "avx512_bf16" in flags or "amx_tile" in flags
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


@pytest.fixture
def native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """bf16 autocast as on a CPU that has it natively (AVX512_BF16 or AMX), whatever CPU runs the tests.

    Where bf16 is only emulated (an AVX2 CPU, or AVX-512 without AVX512_BF16) layerlab's `amp` trains in float32 (see
    `layerlab.engine.speed.native_bf16`); the tests of what bf16 autocast computes use this so
    that they test it on every machine.
    """
    monkeypatch.setattr("layerlab.engine.step.native_bf16", lambda device_type: True)
