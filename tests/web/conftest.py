"""Runs the explorer's tests look at, trained by the tests themselves (once per session, ~10 s):

- lenet-mnist on 28x28 'digits' whose class is a bright bar at row 2 + 2·label (tests/helpers),
  learnable to 100% in two epochs, so a bar image of class k must come back as k;
- mnist-mlp on scikit-learn's bundled 8x8 digits, one epoch: a model with no conv layer.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from layerlab.labs import run_lab
from tests.helpers.fake_files import bar_digit, write_bar_digits


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory) -> dict[str, Path]:
    """{"root": the runs folder, "lenet": its lenet-mnist run, "mlp": its mnist-mlp run}."""
    base = tmp_path_factory.mktemp("web")
    write_bar_digits(base / "digits", {"train": 400, "test": 100})
    root = base / "runs"
    lenet = run_lab("lenet-mnist", {"data_dir": str(base / "digits"), "epochs": 2, "batch_size": 32, "progress": False},
                    out=root)
    mlp = run_lab("mnist-mlp", {"dataset": "digits", "epochs": 1, "progress": False}, out=root)
    return {"root": root, "lenet": Path(lenet["run_dir"]), "mlp": Path(mlp["run_dir"]), "lenet_accuracy": lenet["test_accuracy"]}


def run_id(root: Path, run_dir: Path) -> str:
    return run_dir.relative_to(root).as_posix().replace("/", "~")


def png_bytes(label: int, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(bar_digit(label, seed)).save(buffer, format="PNG")
    return buffer.getvalue()
