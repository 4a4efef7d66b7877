"""lenet-mnist and cifar-cnn end to end, on small files the tests write; the real defaults are @slow."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from layerlab.cli import main
from layerlab.data import get_dataset, train_val_split
from layerlab.data.cifar import CLASSES
from layerlab.data.transforms import channel_stats
from layerlab.labs import run_lab
from layerlab.labs.cifar_cnn import CifarCnnConfig, model_overrides
from layerlab.models import get_model
from tests.helpers.fake_files import write_bar_digits


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))  # never the user's ~/.cache


def _easy_cifar_folder(root: Path, per_class: dict[str, int]) -> None:
    """train/<class>/*.png, test/<class>/*.png: noise whose red and green levels say the class."""
    rng = np.random.default_rng(0)
    for split, count in per_class.items():
        for label, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                image = rng.integers(0, 80, (32, 32, 3), dtype=np.uint8)
                image[..., 0] += np.uint8(17 * label)          # red rises with the class
                image[..., 1] += np.uint8(170 - 17 * label)    # green falls with it
                Image.fromarray(image).save(root / split / name / f"{i:03d}.png")


FIGURES = {"curves", "confusion_matrix", "predictions", "filters", "feature_maps", "top_predictions"}


def _assert_run_folder(run_dir: Path, figures: set[str]) -> None:
    for name in ("report.md", "result.json", "summary.txt", "model.json", "model.safetensors", "checkpoint.pt"):
        assert (run_dir / name).is_file(), name
    written = {p.stem for p in (run_dir / "figures").glob("*.png")}
    assert figures <= written, figures - written
    report = (run_dir / "report.md").read_text()
    assert "test_accuracy" in report and "figures/confusion_matrix.png" in report


def test_lenet_mnist_learns_an_easy_digit_task_and_writes_the_run_folder(tmp_path):
    write_bar_digits(tmp_path / "digits", {"train": 400, "test": 100})
    out = run_lab("lenet-mnist", {"data_dir": str(tmp_path / "digits"), "epochs": 3, "batch_size": 32,
                                  "progress": False}, out=tmp_path / "runs")
    assert out["test_accuracy"] == 1.0  # every seed 0-3 on this CPU: the bar's row gives the digit away (chance 0.1)
    assert out["epochs"] == 3
    run_dir = Path(out["run_dir"])
    _assert_run_folder(run_dir, FIGURES)
    summary = (run_dir / "summary.txt").read_text()
    assert "61,706" in summary  # padding 2 turns 28x28 into 32x32 without changing the count
    assert json.loads((run_dir / "model.json").read_text())["overrides"]["padding"] == 2


def test_cifar_cnn_prints_the_training_split_statistics_and_beats_chance(tmp_path, capsys):
    root = tmp_path / "cifar"
    _easy_cifar_folder(root, {"train": 30, "test": 6})
    out = run_lab("cifar-cnn", {"data_dir": str(root), "epochs": 3, "batch_size": 32, "lr": 0.05, "tta": True,
                                "progress": False}, out=tmp_path / "runs")
    # the printed mean/std are channel_stats of the training part (after the validation cut), computed here again
    train, _ = train_val_split(get_dataset("cifar10", root=root, split="train"), CifarCnnConfig.val_fraction, seed=0)
    mean, std = channel_stats(train)
    line = re.search(r"training-split mean (.*)  std (.*)", capsys.readouterr().out)
    assert line is not None
    assert [float(v) for v in line.group(1).split(",")] == pytest.approx(mean, abs=5e-5)
    assert [float(v) for v in line.group(2).split(",")] == pytest.approx(std, abs=5e-5)
    assert out["mean_r"] == pytest.approx(mean[0], abs=1e-6)
    # the fast net with six test views: 0.467 with seed 0, 0.433-0.717 over seeds 0-5 on this CPU; chance is 0.1
    assert out["test_accuracy"] == pytest.approx(0.5, abs=0.1)
    # the same net scored on one view only: 0.433 with seed 0, 0.417-0.633 over seeds 0-5
    assert out["test_accuracy_one_view"] == pytest.approx(0.5, abs=0.1)
    run_dir = Path(out["run_dir"])
    _assert_run_folder(run_dir, FIGURES)
    # the saved stem is the whitening computed from the training images: their 2x2 patches come out
    # decorrelated with variance ~1 (not exactly: eps = 5e-4 is added to each eigenvalue)
    card = json.loads((run_dir / "model.json").read_text())
    assert card["model"] == "cifar-fast"
    model = get_model(card["model"], **card["overrides"])
    model.load_state_dict({k.removeprefix("model."): v for k, v in load_file(run_dir / "model.safetensors").items()})
    images = (train.inputs.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        white = (model.stem(images) - model.stem.bias.view(1, -1, 1, 1))[:, :12].permute(0, 2, 3, 1).reshape(-1, 12)
    torch.testing.assert_close(torch.cov(white.T), torch.eye(12), atol=0.1, rtol=0)
    # the run records its own speed: the median of the epochs' seconds, and the machine's matmul rate before and after
    seconds = [json.loads(line)["seconds"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert out["seconds_per_epoch"] == pytest.approx(sorted(seconds)[1], abs=1e-3)   # 3 epochs: the middle one
    assert out["matmul_gflops_start"] > 1 and out["matmul_gflops_end"] > 1
    assert f"{out['matmul_gflops_start']:.1f} GFLOP/s before training" in (run_dir / "report.md").read_text()


def test_quick_course_net_from_the_command_line_and_one_line_errors_for_options_of_another_net(tmp_path, capsys):
    root = tmp_path / "cifar"
    _easy_cifar_folder(root, {"train": 8, "test": 2})
    common = ["--data-dir", str(root), "--out", str(tmp_path / "runs"), "--quick", "--no-progress", "--json"]
    assert main(["run", "cifar-cnn", "--net", "course", "--optimizer", "adam", "--lr", "1e-3", "--schedule", "cosine",
                 "--no-lookahead", *common]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # one quick epoch of 80 images leaves 9.5M parameters where they started: the loss of a uniform guess
    # over 10 classes, ln 10 = 2.3026 (2.3013-2.3032 over seeds 0-3), and near-chance accuracy on the 20
    # test images (0.1 in bf16, whose rounding leaves every logit equal; 0.2 in float32 on an AVX2 CPU)
    assert out["epochs"] == 1 and out["test_loss"] == pytest.approx(math.log(10), abs=0.005)
    assert out["test_accuracy"] <= 0.25
    assert "total parameters: 9,457,962" in (Path(out["run_dir"]) / "summary.txt").read_text()
    for flags, message in [
        (["--net", "blocks", "--widths", "32,64"],
         "block_hidden needs one width per block (2) or () for 'same as widths', got (16, 64, 128)"),
        (["--hidden", "64", "--pool-first"], "--hidden and --pool-first shape(s) the course's nets: the fast net pools "
                                             "first, always normalises and ends in one Linear; add --net blocks"),
        (["--net", "course", "--widths", "8,8,8"], "--net course is the course's exact net; --widths shapes --net blocks"),
        (["--tta-shift", "32"], "--tta-shift moves the test image by 0 to 31 pixels, got 32"),
    ]:
        assert main(["run", "cifar-cnn", *flags, *common]) == 2
        assert capsys.readouterr().err.strip() == f"error: {message}"


def test_each_net_option_builds_its_registered_model():
    name, overrides = model_overrides(CifarCnnConfig(net="course"), 10)
    assert name == "cifar-cnn" and sum(p.numel() for p in get_model(name, **overrides).parameters()) == 9_457_962
    name, overrides = model_overrides(CifarCnnConfig(net="blocks"), 10)
    blocks = get_model(name, **overrides)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in blocks.modules())
    assert [b.conv2.out_channels for b in blocks.features] == [32, 128, 256] and blocks.classifier.fc1.out_features == 512
    name, overrides = model_overrides(CifarCnnConfig(), 10)
    assert (name, overrides) == ("cifar-fast", {"num_classes": 10, "widths": (48, 160, 256)})   # narrower than airbench's
    name, overrides = model_overrides(CifarCnnConfig(widths=(32, 64, 64)), 10, image_size=64)
    assert overrides == {"num_classes": 10, "widths": (32, 64, 64), "image_size": 64}


@pytest.mark.slow
def test_lenet_mnist_default_reaches_0_985_on_real_mnist(shared_datasets, tmp_path):
    torch.set_num_threads(2)
    out = run_lab("lenet-mnist", {"data_dir": str(shared_datasets / "mnist"), "progress": False}, out=tmp_path)
    assert out["test_accuracy"] >= 0.985


@pytest.mark.slow
def test_cifar_cnn_default_reaches_0_898_within_13_minutes(shared_datasets, tmp_path):
    # measured on 2 cores, seeds 0, 1, 2: 0.9005, 0.9001, 0.9014 in 12 min 3 s (a slow phase), 11:20, 11:29
    # (issue 16's goal: 0.90 in 12 min);
    # the floor leaves room for the spread between seeds, the time for a slower phase of the machine
    torch.set_num_threads(2)
    out = run_lab("cifar-cnn", {"data_dir": str(shared_datasets / "cifar10-jpg"), "progress": False}, out=tmp_path)
    assert out["test_accuracy"] >= 0.898
    assert out["seconds"] <= 13 * 60


def test_cifar_cnn_on_an_image_folder_of_mixed_sizes_needs_and_honours_size(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for split, n in (("train", 20), ("test", 4)):
        for label, name in enumerate(("blue", "red")):
            (tmp_path / "photos" / split / name).mkdir(parents=True)
            for i in range(n):
                image = rng.integers(0, 80, ((20, 28) if i % 2 else (40, 30)) + (3,)).astype(np.uint8)
                image[..., 2 if label == 0 else 0] += 150
                Image.fromarray(image).save(tmp_path / "photos" / split / name / f"{i}.png")
    common = ["run", "cifar-cnn", "--dataset", "image-folder", "--data-dir", str(tmp_path / "photos"), "--quick",
              "--no-progress", "--no-amp", "--no-channels-last", "--out", str(tmp_path / "runs")]
    assert main(common) == 2                                          # sizes differ: say what to pass
    assert "pass size=(H, W)" in capsys.readouterr().err
    assert main(common + ["--size", "20"]) == 2                       # three 2x2 poolings need a multiple of 8
    assert "multiple of 8" in capsys.readouterr().err
    assert main(common + ["--size", "16", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    card = json.loads((Path(out["run_dir"]) / "model.json").read_text())
    assert card["input_shape"] == [3, 16, 16] and card["overrides"]["image_size"] == 16
    assert (Path(out["run_dir"]) / "report.md").read_text().startswith("# The course's block net on your images: photos")
    assert main(["run", "cifar-cnn", "--size", "16", "--quick", "--out", str(tmp_path / "runs")]) == 2
    assert "--size resizes your own images" in capsys.readouterr().err
