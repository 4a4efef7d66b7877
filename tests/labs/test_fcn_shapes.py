"""fcn-shapes end to end on a few small generated images (the three variants, the report, eval and
predict on its run folder), an FCN through unet-membrane's `--model`, and the default run (@slow)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from layerlab.cli import main
from layerlab.data import get_dataset
from layerlab.labs import run_lab
from tests.helpers.fake_files import write_fake_membranes


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))  # never the user's ~/.cache


TINY = {"size": 32, "train_images": 32, "val_images": 8, "test_images": 12, "epochs": 2, "examples": 2,
        "device": "cpu", "progress": False}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("fcn")
    return root, run_lab("fcn-shapes", TINY, out=root / "runs")


def test_the_three_variants_are_trained_and_reported_side_by_side(trained):
    _, out = trained
    rows = out["tables"]["Variants on the test images"]
    assert [(r["variant"], r["stride"], r["parameters"]) for r in rows] == \
        [("fcn-32s", 32, 526_700), ("fcn-16s", 16, 478_064), ("fcn-8s", 8, 466_164)]   # the registry's counts
    for row in rows:
        key = row["variant"].replace("-", "_")
        assert out[f"{key}_mean_iou"] == pytest.approx(row["mean_iou"], abs=1e-6)
        assert out[f"{key}_pixel_accuracy"] == pytest.approx(row["pixel_accuracy"], abs=1e-6)
    assert out["test_mean_iou"] == out["fcn_8s_mean_iou"]                  # the saved model is the last variant
    test = get_dataset("shapes", split="test", size=32, count=12)
    assert out["all_background_accuracy"] == pytest.approx(float((test.targets == 0).float().mean()), abs=1e-6)


def test_the_report_states_the_order_it_measured(trained):
    _, out = trained
    report = (Path(out["run_dir"]) / "report.md").read_text()
    line = next(line for line in report.splitlines() if "Measured order of test mean IoU" in line)
    named = re.findall(r"(fcn-\d+s) (\d\.\d{3})", line)
    assert [float(v) for _, v in named] == sorted(float(v) for _, v in named)
    assert {name for name, _ in named} == {"fcn-32s", "fcn-16s", "fcn-8s"}
    assert "59.4 < 62.4 < 62.7" in report and "fcn-32s 1x1, fcn-16s 2x2, fcn-8s 4x4" in report
    for name in ("predictions", "curves"):
        assert (Path(out["run_dir"]) / "figures" / f"{name}.png").stat().st_size > 10_000


def test_eval_recomputes_the_saved_variants_test_figures(trained, capsys):
    _, out = trained
    assert main(["eval", out["run_dir"], "--json"]) == 0
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert scores["test_mean_iou"] == pytest.approx(out["test_mean_iou"], abs=1e-6)
    assert scores["test_pixel_accuracy"] == pytest.approx(out["test_pixel_accuracy"], abs=1e-6)
    assert {"test_circle_iou", "test_square_iou", "test_triangle_iou"} <= set(scores)


def test_predict_takes_an_image_of_any_size_and_writes_a_class_mask(trained, capsys):
    root, out = trained
    picture = get_dataset("shapes", split="test", size=64, count=1).inputs[0, :, :50, :41]    # 50x41: not a multiple of 32
    path = root / "new.png"
    Image.fromarray(picture.permute(1, 2, 0).numpy()).save(path)
    assert main(["predict", out["run_dir"], str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["predictions"][0]
    mask = np.asarray(Image.open(root / "new_mask.png"))
    assert mask.shape == (50, 41) and set(np.unique(mask)) <= {0, 1, 2, 3}
    assert sum(result["fractions"].values()) == pytest.approx(1.0, abs=1e-3)
    assert result["fractions"]["background"] == pytest.approx(float((mask == 0).mean()), abs=1e-4)


def test_viz_draws_the_fcn_level_by_level_down_to_stride_32_and_back(trained, capsys):
    root, out = trained
    assert main(["viz", out["run_dir"], "--out", str(root / "viz"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # 32x32 input, widths 8..128, fc 128, 4 classes: five pools halve, fc7 and the scores sit at stride 32,
    # the two learned 2x upsamplings climb to strides 16 and 8, the fixed bilinear one to pixels
    assert result["feature_maps"] == {
        "features.block1": [8, 16, 16], "features.block2": [16, 8, 8], "features.block3": [32, 4, 4],
        "features.block4": [64, 2, 2], "features.block5": [128, 1, 1], "fc7": [128, 1, 1], "score_fr": [4, 1, 1],
        "upscore2": [4, 2, 2], "upscore_pool4": [4, 4, 4], "upscore": [4, 32, 32]}
    assert (root / "viz" / "fcn_levels.png").stat().st_size > 10_000


def test_unet_membrane_trains_an_fcn_by_the_same_recipe(tmp_path, capsys):
    write_fake_membranes(tmp_path / "data", n=12, size=32)
    options = {"patch": 32, "repeats": 2, "amp": False, "device": "cpu", "progress": False, "quick": True}
    out = run_lab("unet-membrane", {**options, "data_dir": str(tmp_path / "data"), "model": "fcn-8s"}, out=tmp_path / "runs")
    card = json.loads((Path(out["run_dir"]) / "model.json").read_text())
    assert card["model"] == "fcn-8s" and card["overrides"] == {"in_channels": 1, "num_classes": 2}
    assert "fcn-8s, the same recipe as the U-Net's" in (Path(out["run_dir"]) / "report.md").read_text()
    assert main(["eval", out["run_dir"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["test_membrane_iou"] == \
        pytest.approx(out["test_membrane_iou"], abs=1e-6)
    assert main(["run", "unet-membrane", "--model", "fcn-4s", "--data-dir", str(tmp_path / "data")]) == 2
    assert "--model must be unet, fcn-32s, fcn-16s or fcn-8s; got 'fcn-4s'" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["--variants", "fcn-32s,unet"], "--variants takes fcn-32s, fcn-16s and fcn-8s (comma-separated), got 'fcn-32s,unet'"),
    (["--size", "48"], "--size must be a multiple of 32 (an FCN pools five times), got 48"),
])
def test_bad_options_are_one_line_errors_before_any_data_is_drawn(argv, message, tmp_path, capsys):
    assert main(["run", "fcn-shapes", *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


@pytest.mark.slow
def test_fcn_shapes_default_holds_its_measured_figures(tmp_path):
    # measured (seed 0, one run on a shared 2-core CPU): test mean IoU / pixel accuracy
    # fcn-32s 0.275 / 0.800, fcn-16s 0.564 / 0.890, fcn-8s 0.723 / 0.942 (all background: 0.823 accuracy)
    torch.set_num_threads(2)
    out = run_lab("fcn-shapes", {"progress": False}, out=tmp_path)
    assert out["fcn_32s_mean_iou"] < out["fcn_16s_mean_iou"] < out["fcn_8s_mean_iou"]
    assert out["fcn_8s_mean_iou"] >= 0.68 and out["fcn_8s_pixel_accuracy"] >= 0.93
    assert out["fcn_16s_mean_iou"] >= 0.50 and out["fcn_16s_pixel_accuracy"] >= 0.87
    assert out["fcn_32s_mean_iou"] <= 0.35          # a 2x2 grid of scores on a 64x64 image cannot draw the shapes
    assert out["all_background_accuracy"] == pytest.approx(0.823202, abs=1e-6)   # the data, not the training
