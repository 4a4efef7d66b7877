"""unet-membrane end to end on fake sections the test writes (dark 2-pixel membranes between bright
cells), then `layerlab predict` and `layerlab eval` on its run folder; the real run is @slow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from layerlab.cli import main
from layerlab.labs import run_lab
from layerlab.labs.unet_membrane import THRESHOLDS
from tests.helpers.fake_files import membrane_slice, write_fake_membranes


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))  # never the user's ~/.cache


TINY = {"patch": 32, "width": 4, "depth": 2, "repeats": 4, "lr": 0.01, "amp": False, "device": "cpu", "progress": False}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("unet")
    write_fake_membranes(root / "data", n=14, size=32)      # 4 train, 5 val (4-8), 5 test (9-13)
    out = run_lab("unet-membrane", {**TINY, "data_dir": str(root / "data"), "epochs": 10}, out=root / "runs")
    return root, out


def test_the_lab_learns_the_membranes_and_says_what_an_all_cell_guess_scores(trained):
    root, out = trained
    assert out["test_membrane_iou"] > 0.9 and out["test_rand_f"] > 0.9
    # the fake test sections 9..13: 2-pixel lines every 8 pixels both ways = 1 - (6/8)² = 43.75% membrane
    assert out["all_cell_accuracy"] == pytest.approx(0.5625)
    run = Path(out["run_dir"])
    for name in ("held_out", "curves", "elastic"):
        assert (run / "figures" / f"{name}.png").stat().st_size > 10_000
    report = (run / "report.md").read_text()
    assert "NOT the ISBI 2012 hidden test set" in report and "membrane IoU 0" in report


def test_predict_writes_a_mask_in_the_label_values_and_an_overlay(trained, capsys):
    root, out = trained
    image, membrane = membrane_slice(20, 48)                # an unseen section, larger than the training crops
    path = root / "new.png"
    Image.fromarray(image).save(path)
    assert main(["predict", out["run_dir"], str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["predictions"][0]
    mask = np.asarray(Image.open(root / "new_mask.png"))
    assert mask.shape == (48, 48) and set(np.unique(mask)) <= {0, 255}          # ISBI's own values: 0 = membrane
    assert ((mask == 0) == (membrane == 1)).mean() > 0.95
    assert result["fractions"]["membrane"] == pytest.approx(float((mask == 0).mean()), abs=1e-4)
    assert result["fractions"]["cell"] + result["fractions"]["membrane"] == pytest.approx(1.0, abs=1e-3)
    assert np.asarray(Image.open(root / "new_overlay.png")).shape == (48, 48, 3)


def test_eval_recomputes_the_held_out_metrics_from_the_saved_weights(trained, capsys):
    _, out = trained
    assert main(["eval", out["run_dir"], "--json"]) == 0
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("test_membrane_iou", "test_rand_f", "test_pixel_accuracy", "test_pixel_error"):
        assert scores[key] == pytest.approx(out[key], abs=1e-6)


def test_viz_draws_every_level_of_the_unet_for_the_first_held_out_section(trained, capsys):
    root, out = trained
    assert main(["viz", out["run_dir"], "--out", str(root / "viz"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["input"] == "held-out section 9 of isbi2012"
    # width 4, depth 2 on 32x32: 4@32, 8@16, bottom 16@8, then back up 8@16, 4@32
    assert result["feature_maps"] == {"encoder.0": [4, 32, 32], "encoder.1": [8, 16, 16], "bottom": [16, 8, 8],
                                      "decoder.0": [8, 16, 16], "decoder.1": [4, 32, 32]}
    assert (root / "viz" / "unet_levels.png").stat().st_size > 10_000


def test_viz_of_a_segmentation_run_speaks_korean_with_lang_ko(trained, capsys):
    root, out = trained
    assert main(["viz", out["run_dir"], "--out", str(root / "viz-ko"), "--lang", "ko"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "입력: isbi2012의 평가용 단면 9" and printed[-2] == "그림:"
    assert all(line.startswith("  ") for line in printed[1:-2])          # the levels: names and shapes only
    assert (root / "viz-ko" / "unet_levels.png").stat().st_size > 10_000


def test_no_elastic_and_contiguous_folds_run_each_choosing_its_threshold_on_validation(tmp_path):
    write_fake_membranes(tmp_path / "data", n=9, size=32)
    out = run_lab("unet-membrane", {**TINY, "data_dir": str(tmp_path / "data"), "quick": True, "elastic": False,
                                    "folds": 3, "threshold": 0.0}, out=tmp_path / "runs")
    folds = out["tables"]["Per fold"]
    assert [row["test_files"] for row in folds] == ["0,1,2", "3,4,5", "6,7,8"]
    assert all(row["threshold"] in THRESHOLDS for row in folds)
    card = json.loads((Path(out["run_dir"]) / "model.json").read_text())
    assert card["extra"]["threshold"] == folds[-1]["threshold"] and card["extra"]["tta"] is True
    assert out["test_membrane_iou"] == pytest.approx(sum(row["test_membrane_iou"] for row in folds) / 3)


@pytest.mark.slow
def test_unet_membrane_default_holds_its_measured_figures_on_the_real_sections(shared_datasets, tmp_path):
    # measured (seed 0, one run): with TTA pixel accuracy 0.9248, Rand F 0.9313, membrane IoU 0.681 (issue 12's
    # floors 0.92 / 0.93 met, with little margin: one membrane gap in section 25 swings Rand F between ~0.89
    # and ~0.93 from epoch to epoch, and a different thread count can change which epoch wins).
    torch.set_num_threads(2)
    out = run_lab("unet-membrane", {"data_dir": str(shared_datasets / "isbi2012-membrane"), "progress": False}, out=tmp_path)
    assert out["test_pixel_accuracy"] >= 0.92
    assert out["test_rand_f"] >= 0.93
    assert out["test_membrane_iou"] > 0.65         # an all-"cell" net scores 0 here, whatever its accuracy
