"""The smallest run of every lab, on files the test writes: TINY_RUNS[lab](tmp) gives its options
(used with --quick). Shared by the Korean-report test and the web explorer's every-lab test; a new
lab needs an entry here (tests/labs/test_korean_reports.py fails without one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

from tests.helpers.fake_files import boston_rows, write_fake_boston, write_fake_cifar, write_fake_membranes, write_fake_mnist

CNN = {"amp": False, "channels_last": False}


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


def _words(tmp: Path) -> dict[str, Any]:
    """Text-line images named by their text (black words on white, 24 px high): crnn-captcha's own data."""
    from PIL import ImageDraw

    folder = tmp / "words"
    folder.mkdir(parents=True)
    for word in ("ab", "ba", "abc", "cab", "bca", "acb", "cc", "aab", "bb", "ca", "bac", "abb"):
        image = Image.new("L", (64, 24), 255)
        ImageDraw.Draw(image).text((3, 6), word, fill=0)
        image.save(folder / f"{word}.png")
    return {"dataset": "text-images", "data_dir": str(folder), "height": 24, "examples": 2}


def _boxes(tmp: Path) -> dict[str, Any]:
    """mnist-detection canvases made from a small fake MNIST: the detectors' own data."""
    return {**_mnist(tmp, {"train": 60, "test": 20}), "train_images": 12, "val_images": 4, "test_images": 6,
            "epochs": 1, "per_image": 8, "batch_size": 4, "examples": 2}


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
    "crnn-captcha": _words,
    "rcnn": _boxes,
    "sppnet": lambda tmp: {**_boxes(tmp), "roi_pool": True},
}
