"""The explorer works with runs made by every lab: each tiny run (tests/helpers/tiny_runs.py) is listed,
its page, metrics and model load, and Try it does what its task does (an image for classifiers,
segmenters, autoencoders, GANs; a prompt for language models and translators; samples for a VAE or
GAN), with pictures inline and no server path in any answer."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.backend_bases import FigureCanvasBase
from PIL import Image
from starlette.testclient import TestClient

from layerlab.labs import list_labs, run_lab
from layerlab.web import create_app
from tests.helpers.tiny_runs import TINY_RUNS
from tests.web.conftest import run_id

PROMPTS = {"language-model": "First", "translation": "나는 사과를 좋아해."}


@pytest.fixture(scope="module")
def every_lab(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """One quick run of every lab in one runs folder (figures written empty: the words and numbers are
    what this module checks, and drawing them would double its time)."""
    base = tmp_path_factory.mktemp("every-lab")
    runs: dict[str, Path] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(base / "cache"))
        patch.setattr(FigureCanvasBase, "print_figure",
                      lambda canvas, target, *a, **k: target.write(b"") if hasattr(target, "write") else Path(target).write_bytes(b""))
        for lab in sorted(TINY_RUNS):
            data = base / "data" / lab
            data.mkdir(parents=True)
            options = {**TINY_RUNS[lab](data), "quick": True, "progress": False}
            runs[lab] = Path(run_lab(lab, options, out=base / "runs")["run_dir"])
    return base / "runs", runs


@pytest.fixture(scope="module")
def client(every_lab):
    with TestClient(create_app(every_lab[0])) as client:
        yield client


def _picture() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _no_path(answer: Any, root: Path) -> None:
    """Try it's answers carry no path: not the runs folder's, not the private folder a predictor wrote in."""
    text = json.dumps(answer, ensure_ascii=False)
    assert str(root.parent) not in text and "layerlab-try-" not in text and "layerlab-samples-" not in text


def test_the_runs_list_has_every_lab_finished(client, every_lab):
    rows = {row["lab"]: row for row in client.get("/api/runs").json()["runs"]}
    assert sorted(rows) == sorted(list_labs())
    assert {lab: row["status"] for lab, row in rows.items()} == {lab: "finished" for lab in rows}


@pytest.mark.parametrize("lab", sorted(TINY_RUNS))
def test_every_labs_run_opens_and_tries_what_its_task_does(lab, client, every_lab):
    root, runs = every_lab
    rid = run_id(root, runs[lab])
    page, metrics = client.get(f"/api/runs/{rid}"), client.get(f"/api/runs/{rid}/metrics")
    assert page.status_code == 200 and metrics.status_code == 200 and page.json()["lab"] == lab
    model = client.get(f"/api/runs/{rid}/model")
    if not (runs[lab] / "model.safetensors").is_file():
        assert model.status_code == 409
        return
    assert model.status_code == 200, model.text
    info = model.json()
    tried = 0
    if info["abilities"]["image"] or info["task"] == "classification":
        answer = client.post(f"/api/runs/{rid}/predict", files={"image": ("x.png", _picture(), "image/png")})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["task"] == info["task"] and (body.get("class") is not None or body["results"])
        _no_path(body, root)
        tried += 1
    if info["abilities"]["text"]:
        answer = client.post(f"/api/runs/{rid}/text", json={"prompt": PROMPTS[info["task"]], "length": 20})
        assert answer.status_code == 200, answer.text
        assert answer.json()["results"] and any(isinstance(v, str) and v for v in answer.json()["results"][0].values())
        tried += 1
    if info["abilities"]["samples"]:
        answer = client.post(f"/api/runs/{rid}/samples?count=2&seed=3")
        assert answer.status_code == 200, answer.text
        pictures = [v for r in answer.json()["results"] for v in r.values() if isinstance(v, str) and v.startswith("data:image/png")]
        assert pictures
        _no_path(answer.json(), root)
        tried += 1
    if info["task"] == "regression":      # a table's row is not an image: Try it says so
        assert client.post(f"/api/runs/{rid}/predict", files={"image": ("x.png", _picture(), "image/png")}).status_code == 409
    else:
        assert tried, f"{lab}: Try it offers nothing for the task {info['task']!r}"


def test_a_task_that_cannot_do_it_says_so_in_one_line(client, every_lab):
    root, runs = every_lab
    lenet, unet = run_id(root, runs["lenet-mnist"]), run_id(root, runs["unet-membrane"])
    refused = client.post(f"/api/runs/{lenet}/samples?count=2")
    assert refused.status_code == 409 and refused.json()["error"] == \
        "this run's task is 'classification': only a VAE or a GAN draws new images"
    refused = client.post(f"/api/runs/{unet}/text", json={"prompt": "hi"})
    assert refused.status_code == 409 and "a prompt is for a language model or a translator" in refused.json()["error"]
    vae = run_id(root, runs["vae"])
    assert client.post(f"/api/runs/{vae}/samples?count=65").status_code == 400
