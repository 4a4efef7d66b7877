"""classify-images: your own image folder, any zoo classifier, from the CLI; on folders the tests write."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from layerlab.cli import main
from layerlab.engine.card import ModelCard
from layerlab.engine.deploy import evaluate_run
from layerlab.errors import LayerlabError
from layerlab.labs import run_lab

FAST = {"progress": False, "amp": False, "channels_last": False}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def write_folder(root: Path, splits: dict[str, int], *, seed: int = 0, sizes=((20, 24), (30, 18))) -> Path:
    """Reddish "apple" and bluish "sky" photos of two different sizes, `n` per class per split."""
    rng = np.random.default_rng(seed)
    for split, n in splits.items():
        for label, name in enumerate(("apple", "sky")):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                h, w = sizes[i % len(sizes)]
                image = rng.integers(0, 90, (h, w, 3)).astype(np.uint8)
                image[..., 0 if label == 0 else 2] += 140
                Image.fromarray(image).save(folder / f"{name}{i:03d}.png")
    return root


def test_a_folder_of_mixed_sizes_without_val_trains_and_reports_its_own_name(tmp_path):
    data = write_folder(tmp_path / "fruit-and-sky", {"train": 40, "test": 10})
    (data / "train" / "apple" / "broken.jpg").write_bytes(b"not a jpeg at all")
    with pytest.warns(Warning, match=r"skipped 1 unreadable image in train/: .*broken\.jpg"):
        outcome = run_lab("classify-images", {**FAST, "data_dir": str(data), "model": "cifar-cnn", "size": 16,
                                              "epochs": 4, "batch_size": 16, "lr": 3e-3, "schedule": "none"},
                          out=tmp_path / "runs")
    assert outcome["test_accuracy"] >= 0.8          # the colours separate the classes: it must learn them
    run = Path(outcome["run_dir"])
    report = (run / "report.md").read_text()
    assert report.startswith("# Classify your own images: fruit-and-sky")
    assert "72 training, 8 validation, 20 test images at 16x16, RGB" in report   # 80 - 1 broken... held out 10%
    assert "No val/ folder: 10% of train/ was held out" in report
    card = ModelCard.load(run / "model.json")
    assert card.input_shape == (3, 16, 16) and card.classes == ("apple", "sky") and card.test_split == "test"
    # layerlab eval re-reads test/ at the trained size and gets the same accuracy
    assert evaluate_run(run)["test_accuracy"] == pytest.approx(outcome["test_accuracy"], abs=1e-9)


def test_confidently_wrong_rows_name_the_files(tmp_path):
    data = write_folder(tmp_path / "pets", {"train": 12, "val": 4, "test": 6})
    outcome = run_lab("classify-images", {**FAST, "data_dir": str(data), "model": "cifar-cnn", "size": 8,
                                          "epochs": 1, "batch_size": 8, "augment": False}, out=tmp_path / "runs")
    rows = json.loads((Path(outcome["run_dir"]) / "result.json").read_text())["tables"]["Most confidently wrong"]
    for row in rows:
        assert row["file"].startswith("test/") and row["file"].endswith(".png")
        assert row["file"].split("/")[1] == row["true"]       # the file's class folder is its true class


def test_weights_from_an_earlier_run_are_loaded_and_frozen_features_stay_put(tmp_path):
    data = write_folder(tmp_path / "pets", {"train": 12, "test": 4})
    first = run_lab("classify-images", {**FAST, "data_dir": str(data), "model": "cifar-cnn", "size": 8,
                                        "epochs": 1, "batch_size": 8}, out=tmp_path / "runs")
    from safetensors.torch import load_file
    before = load_file(Path(first["run_dir"]) / "model.safetensors")
    second = run_lab("classify-images", {**FAST, "data_dir": str(data), "model": "cifar-cnn", "size": 8, "epochs": 1,
                                         "batch_size": 8, "weights": first["run_dir"], "freeze": True},
                     out=tmp_path / "runs2")
    after = load_file(Path(second["run_dir"]) / "model.safetensors")
    conv = next(k for k in before if k.startswith("features") and k.endswith("weight"))
    assert (after[conv] == before[conv]).all()                  # frozen features: exactly the first run's
    assert "frozen" in (Path(second["run_dir"]) / "report.md").read_text()


@pytest.mark.parametrize("options, message", [
    ({"model": "char-lstm"}, "--model char-lstm is not an image classifier; use one of"),
    ({"model": "cifar-cnn", "freeze": True}, "--freeze keeps pretrained features fixed"),
    ({"model": "cifar-cnn", "weights": "nowhere"}, "--weights nowhere: no such file or run folder"),
    ({"model": "lenet5", "weights": "imagenet"}, "--weights imagenet needs --model one of"),
])
def test_bad_options_are_one_line_errors(tmp_path, options, message):
    data = write_folder(tmp_path / "pets", {"train": 4})
    with pytest.raises(LayerlabError, match=message):
        run_lab("classify-images", {**FAST, "data_dir": str(data), "size": 8, **options}, out=tmp_path / "runs")


def test_from_the_cli_with_gray_model_and_an_archive(tmp_path, capsys):
    import tarfile
    data = write_folder(tmp_path / "pets", {"train": 8, "test": 4})
    archive = tmp_path / "pets.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(data, arcname="pets")
    status = main(["run", "classify-images", "--data-dir", str(archive), "--model", "lenet5", "--epochs", "1",
                   "--batch-size", "8", "--no-progress", "--no-amp", "--no-channels-last", "--out", str(tmp_path / "runs"),
                   "--json"])
    assert status == 0
    outcome = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    card = ModelCard.load(Path(outcome["run_dir"]) / "model.json")
    assert card.input_shape == (1, 32, 32)             # lenet5's own: gray, 32x32
    assert 0.0 <= outcome["test_accuracy"] <= 1.0


def test_a_smoke_run_sees_every_class_of_a_sorted_folder(tmp_path):
    """--quick used to take the first 64/32/32 rows: in a folder set sorted by class, all one class
    (a cat-vs-dog smoke run scored 0.0 on 32 cats); now a seeded slice with each class."""
    data = write_folder(tmp_path / "big", {"train": 60, "test": 30})
    outcome = run_lab("classify-images", {**FAST, "data_dir": str(data), "model": "cifar-cnn", "size": 16,
                                          "quick": True}, out=tmp_path / "runs")
    report = (Path(outcome["run_dir"]) / "report.md").read_text()
    assert "64 training, 12 validation, 32 test images at 16x16" in report
    rows = report.split("## Per-class accuracy")[1].split("##")[0]
    assert "| apple |" in rows and "| sky |" in rows and "—" not in rows   # both classes were scored


def test_a_class_with_no_test_image_has_no_accuracy_rather_than_zero(tmp_path):
    data = write_folder(tmp_path / "one-sided", {"train": 20, "test": 6})
    for png in (data / "test" / "sky").iterdir():
        png.unlink()
    (data / "test" / "sky").rmdir()
    outcome = run_lab("classify-images", {**FAST, "data_dir": str(data), "model": "cifar-cnn", "size": 16,
                                          "epochs": 1}, out=tmp_path / "runs")
    rows = (Path(outcome["run_dir"]) / "report.md").read_text().split("## Per-class accuracy")[1].split("##")[0]
    assert "| sky | — |" in rows and "| apple | —" not in rows
