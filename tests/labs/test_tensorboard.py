"""--tensorboard: the per-epoch metrics land as TensorBoard event files that TensorBoard itself reads back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from layerlab.engine.tensorboard import tag
from layerlab.labs import run_lab

from tensorboard.backend.event_processing import event_accumulator    # reads the event files (the test extra)


def test_tags_group_the_splits_of_one_quantity():
    assert [tag("train_loss"), tag("val_accuracy"), tag("lr"), tag("train_loss", "plain")] == \
        ["loss/train", "accuracy/val", "lr", "plain/loss/train"]


def test_a_run_with_tensorboard_writes_every_epochs_numbers_as_scalars(tmp_path):
    out = run_lab("mnist-mlp", {"dataset": "digits", "epochs": 2, "tensorboard": True, "progress": False}, out=tmp_path)
    run = Path(out["run_dir"])
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    events = event_accumulator.EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert set(events.Tags()["scalars"]) == {"loss/train", "accuracy/train", "loss/val", "accuracy/val", "lr", "seconds"}
    for name in ("train_loss", "val_accuracy", "lr"):
        scalars = events.Scalars(tag(name))
        assert [s.step for s in scalars] == [1, 2]
        assert [s.value for s in scalars] == pytest.approx([row[name] for row in rows], rel=1e-6)   # float32 in the file
    assert len(list((run / "tensorboard").iterdir())) == 1      # rewritten each epoch: one file, not one per epoch
