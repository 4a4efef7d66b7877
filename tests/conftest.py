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
def native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """bf16 autocast as on a CPU that has it natively (AVX-512 or AMX), whatever CPU runs the tests.

    Where bf16 is only emulated (an AVX2 CPU) layerlab's `amp` trains in float32 (see
    `layerlab.engine.speed.native_bf16`); the tests of what bf16 autocast computes use this so
    that they test it on every machine.
    """
    monkeypatch.setattr("layerlab.engine.step.native_bf16", lambda device_type: True)
