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
