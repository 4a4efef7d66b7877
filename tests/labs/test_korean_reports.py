"""Every lab, run with --lang ko on files the test writes, has a Korean report: title, headings and every
"What to notice" note carry Hangul, and so do the titles of its figures. A new lab needs a tiny run here
(TINY_RUNS), or this test fails for it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from matplotlib.backend_bases import FigureCanvasBase
from PIL import Image

from layerlab.labs import list_labs, run_lab
from tests.helpers.fake_files import boston_rows, write_fake_boston, write_fake_cifar, write_fake_membranes, write_fake_mnist

HANGUL = re.compile("[\uac00-\ud7a3]")
CNN = {"amp": False, "channels_last": False}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def _cifar(tmp: Path) -> dict[str, Any]:
    return {"data_dir": str(write_fake_cifar(tmp / "cifar", per_batch=20)), **CNN}


def _mnist(tmp: Path, sizes: dict[str, int] | None = None) -> dict[str, Any]:
    write_fake_mnist(tmp / "mnist", sizes or {"train": 120, "test": 40})
    return {"data_dir": str(tmp / "mnist")}


def _text(tmp: Path) -> dict[str, Any]:
    (tmp / "input.txt").write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n\n" * 40)
    return {"data_dir": str(tmp), "seq_len": 16, "batch_size": 8, "hidden_size": 16, "num_layers": 1, "amp": False,
            "sample_chars": 20, "prompt": "First"}


def _prices(tmp: Path) -> dict[str, Any]:
    closes = (100.0 + torch.randn(160, generator=torch.Generator().manual_seed(0), dtype=torch.float64).cumsum(0)).tolist()
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"] + [
        f"2020-{1 + i // 28:02d}-{1 + i % 28:02d},{c},{c + 1},{c - 1},{c},{c},{1000 + i}" for i, c in enumerate(closes)]
    (tmp / "NFLX.csv").write_text("\n".join(lines) + "\n")
    return {"data_dir": str(tmp), "window": 5, "hidden_size": 8}


def _pairs(tmp: Path) -> dict[str, Any]:
    words = [("나는", "i"), ("너는", "you")], [("사과를", "apples"), ("책을", "books"), ("물을", "water")], \
        [("좋아해", "like"), ("원해", "want")]
    lines = [f"{s.capitalize()} {v} {o}.\t{sk} {ok} {vk}.\tCC-BY 2.0 (France) Attribution: tatoeba.org #1 (x) & #2 (y)"
             for sk, s in words[0] for ok, o in words[1] for vk, v in words[2]]
    (tmp / "kor.txt").write_text("\n".join(lines * 3) + "\n", encoding="utf-8")
    return {"data_dir": str(tmp), "epochs": 1, "examples": 2, "heatmaps": 1}


def _photos(tmp: Path) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    for split, n in {"train": 8, "test": 4}.items():
        for label, name in enumerate(("apple", "sky")):
            (tmp / "photos" / split / name).mkdir(parents=True)
            for i in range(n):
                image = rng.integers(0, 90, (16, 16, 3)).astype(np.uint8)
                image[..., 2 * label] += 140
                Image.fromarray(image).save(tmp / "photos" / split / name / f"{i}.png")
    return {"data_dir": str(tmp / "photos"), "model": "cifar-cnn", "size": 8, **CNN}


# lab -> the options of its smallest run (all with --quick, --lang ko, no progress bar)
TINY_RUNS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "cubic-sin": lambda tmp: {"iterations": 50},
    "mnist-mlp": lambda tmp: {"dataset": "digits"},
    "house-prices": lambda tmp: {"data_dir": str(write_fake_boston(tmp / "boston", boston_rows(40)).parent)},
    "lenet-mnist": _mnist,
    "cifar-cnn": _cifar,
    "resnet-cifar": lambda tmp: {**_cifar(tmp), "compare": True},
    "transfer-vgg16": lambda tmp: {**_cifar(tmp), "model": "cifar-vgg"},
    "alexnet-norm": _cifar,
    "degradation": lambda tmp: {**_cifar(tmp), "depths": "8,14"},
    "vanishing-gradients": _mnist,
    "stock-rnn": _prices,
    "char-rnn": _text,
    "seq2seq-attention": _pairs,
    "unet-membrane": lambda tmp: {"data_dir": str(write_fake_membranes(tmp / "isbi", n=9)), "patch": 32, "width": 4,
                                  "depth": 2, "repeats": 2, "test_size": 2, "val_size": 2, "amp": False},
    "fcn-shapes": lambda tmp: {"size": 32, "train_images": 16, "val_images": 8, "test_images": 8, "examples": 2,
                               "variants": ("fcn-32s", "fcn-8s"), "amp": False},
    "classify-images": _photos,
    "autoencoder": lambda tmp: {**_mnist(tmp, {"train": 48, "test": 30}), "denoise": True},
    "vae": lambda tmp: {**_mnist(tmp, {"train": 48, "test": 30}), "latent": 2},
    "dcgan": lambda tmp: {**_mnist(tmp, {"train": 64, "test": 64}), "width": 8, "latent": 8},
}


def test_every_lab_has_a_tiny_korean_run():
    assert sorted(TINY_RUNS) == sorted(list_labs())


@pytest.mark.parametrize("lab", sorted(TINY_RUNS))
def test_a_korean_run_writes_a_korean_report_and_korean_figure_titles(lab, tmp_path, monkeypatch):
    titles: list[str] = []

    def no_pixels(canvas: FigureCanvasBase, target: Any, *_: Any, **__: Any) -> None:
        """savefig keeping the titles and drawing nothing: the words are checked here, not the pixels
        (half the run time). Every figure of the run passes here, the lab's own and those of viz.model."""
        figure = canvas.figure
        titles.extend(t for t in [figure.get_suptitle(), *(ax.get_title() for ax in figure.axes)] if t)
        target.write(b"") if hasattr(target, "write") else Path(target).write_bytes(b"")

    monkeypatch.setattr(FigureCanvasBase, "print_figure", no_pixels)
    options = {**TINY_RUNS[lab](tmp_path), "quick": True, "progress": False, "lang": "ko"}
    report = (Path(run_lab(lab, options, out=tmp_path / "runs")["run_dir"]) / "report.md").read_text()
    lines = report.splitlines()
    headings = [line for line in lines if line.startswith("#")]
    notes = report.split("\n## 눈여겨볼 점\n")[1].split("\n## ")[0].strip().splitlines()
    unit = next(line for line in lines if line.startswith("강의 단원: "))       # the course unit, in Korean too
    assert [h for h in headings if not HANGUL.search(h)] == [] and HANGUL.search(unit.removeprefix("강의 단원: "))
    assert notes and [n for n in notes if not HANGUL.search(n)] == []
    assert titles and [t for t in titles if _has_words(t) and not HANGUL.search(t)] == []


# names that stay as they are in a Korean figure title: models, metrics, layers, classes of the test data
NAMES = {"relu", "tanh", "sigmoid", "resnet", "plain", "lstm", "gru", "rnn", "mlp", "fcn", "bce", "mse", "kl",
         "iou", "bleu", "lrn", "vae", "unet", "apple", "sky", "airplane", "automobile", "bird", "cat", "deer", "dog",
         "frog", "horse", "ship", "truck", "encoder", "decoder", "bottom", "conv", "features", "mae", "rmse", "sin", "rand",
         "alexnet"}


def _has_words(title: str) -> bool:
    """Whether a title holds English words to translate (not only numbers, names and class labels)."""
    return any(word not in NAMES for word in re.findall("[a-z]{3,}", title.lower()))
