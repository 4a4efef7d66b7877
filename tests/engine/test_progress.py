"""The progress bar: live redraws in a terminal or Jupyter, one clean line per epoch in logs."""

from __future__ import annotations

import io
import re
import sys
import types

import torch

from layerlab.data import TensorData
from layerlab.engine import fit
from layerlab.engine.progress import EpochProgress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _train(stream: io.StringIO, monkeypatch) -> str:
    monkeypatch.setattr(sys, "stdout", stream)
    g = torch.Generator().manual_seed(0)
    data = TensorData(torch.randn(512, 4, generator=g), torch.randint(0, 2, (512,), generator=g))
    fit(torch.nn.Linear(4, 2), data, val=data, optimizer="sgd", lr=0.1, epochs=3, batch_size=16, device="cpu")
    return stream.getvalue()


def test_log_output_is_one_line_per_epoch_without_carriage_returns(monkeypatch):
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    text = _train(io.StringIO(), monkeypatch)
    lines = text.splitlines()
    assert "\r" not in text
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"]
    assert all("train_loss" in line and "val_accuracy" in line for line in lines)


def test_terminal_redraws_in_place_and_ends_each_epoch_with_a_clean_line(monkeypatch):
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    bar = EpochProgress(1, 2, total=10, stream=FakeTerminal())
    assert bar.live
    bar.last_draw = -1.0                     # a redraw is due at once
    assert bar.due()
    bar.draw(5, 0.25)
    bar.close({"train_loss": 0.25})
    out = bar.stream.getvalue()
    assert out.startswith("\repoch 1/2 [") and "5/10" in out and "loss 0.2500" in out
    assert re.search(r"\repoch 1/2  train_loss 0\.2500  \(\d+\.\ds\)\n$", out)


def test_jupyter_counts_as_live_although_its_stdout_is_not_a_tty(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert EpochProgress(1, 1, total=3, stream=io.StringIO()).live
    monkeypatch.delitem(sys.modules, "ipykernel")
    assert not EpochProgress(1, 1, total=3, stream=io.StringIO()).live


def test_progress_false_prints_nothing(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stream)
    data = TensorData(torch.randn(64, 4), torch.randint(0, 2, (64,)))
    fit(torch.nn.Linear(4, 2), data, epochs=2, device="cpu", progress=False)
    assert stream.getvalue() == ""


def test_fit_draws_the_bar_against_the_number_of_batches(monkeypatch):
    from layerlab.engine import progress

    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.setattr(progress.EpochProgress, "due", lambda self: True)  # a redraw every step
    stream = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", stream)
    data = TensorData(torch.randn(64, 4), torch.randint(0, 2, (64,)))
    fit(torch.nn.Linear(4, 2), data, epochs=1, batch_size=16, device="cpu")
    assert re.findall(r" (\d+/\d+)  loss", stream.getvalue()) == ["1/4", "2/4", "3/4", "4/4"]
