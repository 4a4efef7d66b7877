"""`layerlab viz RUN_DIR`: a saved run folder in, three figures and the top predictions out."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from layerlab.cli import main
from layerlab.data.synthetic import DIGIT_CLASSES
from layerlab.engine.card import ModelCard
from layerlab.engine.checkpoint import save_weights
from layerlab.engine.deploy import image_input, load_trained
from layerlab.engine.run import RunDir
from layerlab.models import get_model


def saved_run(tmp_path, model_name: str, dataset: str = "digits", **overrides) -> RunDir:
    """A run folder as a lab leaves it: config.json, model.safetensors, model.json (no training)."""
    torch.manual_seed(0)
    model = get_model(model_name, **overrides)
    run = RunDir.create(tmp_path / "runs", "fake-lab", {"seed": 0})
    save_weights(model, run.weights_path())
    shape = (1, 32, 32) if model_name == "lenet5" else (1, 28, 28)
    ModelCard(model=model_name, overrides=overrides, input_shape=shape, classes=DIGIT_CLASSES, mean=(0.3053,),
              std=(0.3759,), dataset=dataset).save(run.path / "model.json")
    return run


def test_viz_with_an_image_prints_the_models_own_probabilities_as_json(tmp_path, capsys):
    run = saved_run(tmp_path, "lenet5")
    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(photo)
    assert main(["viz", str(run.path), "--image", str(photo), "--out", str(tmp_path / "figs"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    model, card = load_trained(run.path)
    _, inputs, notes = image_input(card, photo)
    with torch.no_grad():
        probs = torch.softmax(model(inputs), dim=1)[0]
    best = probs.argsort(descending=True)[:5]
    assert [t["class"] for t in result["top"]] == [DIGIT_CLASSES[int(i)] for i in best]
    assert [t["probability"] for t in result["top"]] == pytest.approx([float(probs[i]) for i in best], abs=1e-4)
    assert result["notes"] == notes and any("resized 50x40 to 32x32" in n for n in notes)
    assert result["first_conv"] == "features.0" and result["filters"] == [6, 1, 5, 5]
    assert result["feature_maps"] == {"features.2": [6, 14, 14], "features.5": [16, 5, 5]}
    assert [p.rsplit("/", 1)[1] for p in result["figures"]] == ["filters.png", "feature_maps.png", "top_predictions.png"]
    for path in result["figures"]:
        with Image.open(path) as png:
            assert png.format == "PNG" and png.width >= 400


def test_viz_without_an_image_uses_the_runs_first_test_image_and_one_layer(tmp_path, capsys):
    run = saved_run(tmp_path, "lenet5")
    assert main(["viz", str(run.path), "--layer", "features.3", "--lang", "ko"]) == 0
    out = capsys.readouterr().out
    assert "입력: digits의 테스트 이미지 0 (실제 클래스 " in out      # --lang ko: the terminal lines too
    assert "참고: 크기 변경 8x8 -> 32x32" in out
    assert "특징 맵: features.3 16@10x10" in out  # (14 - 5)/1 + 1 = 10
    assert (run.path / "figures" / "viz" / "feature_maps.png").is_file()
    assert untranslated(out) == []


HANGUL = re.compile("[\uac00-\ud7a3]")


def untranslated(printed: str) -> list[str]:
    """Lines of `viz --lang ko` with no Hangul, other than the rows under a heading (class names and
    probabilities, layer shapes, file names)."""
    return [line for line in printed.splitlines()
            if not HANGUL.search(line) and (not line.startswith("  ") or line.lstrip().startswith("note"))]


def test_viz_of_a_photo_in_korean_says_how_it_was_converted_in_korean(tmp_path, capsys):
    run = saved_run(tmp_path, "lenet5")
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(photo)
    assert main(["viz", str(run.path), "--image", str(photo), "--out", str(tmp_path / "figs"), "--lang", "ko"]) == 0
    out = capsys.readouterr().out
    assert "  참고: RGB 이미지를 흑백으로 변환" in out and "  참고: 크기 변경 50x40 -> 32x32" in out
    assert untranslated(out) == [] and len(out.splitlines()) > 8


@pytest.mark.parametrize(("make", "args", "message"), [
    (None, ["viz", "/nonexistent/run"], "error: /nonexistent/run is not a layerlab run folder"),
    ("lenet5", ["--layer", "features.9"], "error: no layer named 'features.9' in LeNet5; layers: features, features.0"),
    ("mlp", [], "error: viz needs a convolutional model; MLP has no Conv2d layer"),
    ("lenet5-nodata", [], "error: cannot load the run's unnamed test images"),
])
def test_viz_mistakes_are_one_line_errors(make, args, message, tmp_path, capsys):
    if make == "mlp":
        args = ["viz", str(saved_run(tmp_path, "mlp", sizes=(784, 16, 10)).path)]
    elif make == "lenet5":
        args = ["viz", str(saved_run(tmp_path, "lenet5").path), *args]
    elif make == "lenet5-nodata":
        args = ["viz", str(saved_run(tmp_path, "lenet5", dataset="").path)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and len(err.splitlines()) == 1
    if make == "lenet5-nodata":
        assert err.endswith("give one with --image FILE")
