"""Every lab, run with --lang ko on files the test writes, has a Korean report: title, headings and every
"What to notice" note carry Hangul, and so do the titles of its figures. A new lab needs a tiny run here
(TINY_RUNS in tests/helpers/tiny_runs.py), or this test fails for it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from matplotlib.backend_bases import FigureCanvasBase

from layerlab.labs import list_labs, run_lab
from tests.helpers.tiny_runs import TINY_RUNS

HANGUL = re.compile("[\uac00-\ud7a3]")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


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
