"""The run folder: RunDir.record, and read_runs listing every run with its status and key metric."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest

from layerlab.engine.run import RunDir, read_runs
from layerlab.errors import LayerlabError

KEY_METRICS = {"mnist-mlp": ("test_accuracy", True), "cubic-sin": ("max_coefficient_gap", False)}


def write_run(root: Path, lab: str, stamp: str, config: dict | str, **files: str) -> Path:
    """A run folder made by hand: config.json (a dict, or raw text), plus any other files."""
    path = root / lab / stamp
    path.mkdir(parents=True)
    (path / "config.json").write_text(config if isinstance(config, str) else json.dumps({"lab": lab, **config}))
    for name, text in files.items():
        (path / name.replace("_", ".", 1)).write_text(text)
    return path


def set_mtime(path: Path, iso: str) -> None:
    stamp = datetime.fromisoformat(iso).timestamp()
    os.utime(path / "config.json", (stamp, stamp))


@pytest.fixture
def runs(tmp_path) -> Path:
    root = tmp_path / "runs"
    write_run(root, "mnist-mlp", "a", {"status": "finished", "started": "2025-03-01T14:05:09+09:00"},
              result_json=json.dumps({"test_accuracy": 0.9712, "test_loss": 0.1}))
    rows = [{"epoch": 1, "train_loss": 0.5, "val_accuracy": 0.9}, {"epoch": 2, "train_loss": 0.3, "val_accuracy": 0.93}]
    write_run(root, "mnist-mlp", "b", {"status": "running", "started": "2025-03-02T09:00:00+09:00"},
              metrics_jsonl="".join(json.dumps(r) + "\n" for r in rows))
    write_run(root, "cubic-sin", "c", {"status": "failed", "started": "2025-03-01T10:00:00+09:00",
                                       "error": "--method must be manual, autograd or optim; got 'magic'"})
    set_mtime(write_run(root, "cubic-sin", "d", {"config": {}}, result_json='{"max_coefficient_gap": 0.0125}'),
              "2025-02-01T08:00:00+00:00")              # from before status was recorded
    set_mtime(write_run(root, "house-prices", "e", "{half a json"), "2025-01-01T00:00:00+00:00")
    return root


def test_runs_are_listed_newest_first_with_status_and_key_metric(runs):
    rows = read_runs(runs, KEY_METRICS)
    assert [Path(r["run_dir"]).name for r in rows] == ["b", "a", "c", "d", "e"]
    by_name = {Path(r["run_dir"]).name: r for r in rows}
    assert by_name["a"] == {"lab": "mnist-mlp", "status": "finished", "metric": "test_accuracy", "value": 0.9712,
                            "higher_is_better": True, "started": "2025-03-01T14:05:09+09:00",
                            "run_dir": str(runs / "mnist-mlp" / "a")}
    # still running: the validated twin of the key metric from its last epoch
    assert (by_name["b"]["metric"], by_name["b"]["value"], by_name["b"]["epoch"]) == ("val_accuracy", 0.93, 2)
    assert by_name["c"]["status"] == "failed" and by_name["c"]["value"] is None
    assert by_name["c"]["error"] == "--method must be manual, autograd or optim; got 'magic'"
    assert by_name["d"]["status"] == "finished" and by_name["d"]["value"] == 0.0125
    assert datetime.fromisoformat(by_name["d"]["started"]) == datetime.fromisoformat("2025-02-01T08:00:00+00:00")
    assert by_name["e"]["status"] == "unreadable" and by_name["e"]["lab"] == "house-prices"


def test_listing_a_folder_that_is_not_there_is_one_line(tmp_path):
    with pytest.raises(LayerlabError, match="is not a folder of runs"):
        read_runs(tmp_path / "nowhere", KEY_METRICS)


def test_record_adds_one_entry_and_keeps_the_rest(tmp_path):
    run = RunDir.create(tmp_path, "mnist-mlp", {"epochs": 3})
    run.record("normalisation", {"mean": [0.1307], "std": [0.3081]})
    config = json.loads((run.path / "config.json").read_text())
    assert config["normalisation"] == {"mean": [0.1307], "std": [0.3081]}
    assert config["config"] == {"epochs": 3} and config["status"] == "running"
    assert [p.name for p in run.path.iterdir()] == ["config.json"]     # no temporary file left behind


def test_a_run_cannot_end_as_running(tmp_path):
    with pytest.raises(ValueError):
        RunDir.create(tmp_path, "lab", {}).mark_ended("running", seconds=1.0)


def test_a_run_records_the_machine_it_trained_on(tmp_path: Path, cpu_flags_bf16: bool) -> None:
    import torch

    facts = RunDir.create(tmp_path, "lab", {"epochs": 1}).config["machine"]
    assert facts["torch"] == torch.__version__ and facts["threads"] == torch.get_num_threads()
    assert facts["cpu"] == torch.backends.cpu.get_cpu_capability()      # e.g. AVX2, AVX512
    assert facts["cpu_bf16"] is cpu_flags_bf16             # AVX512_BF16 or AMX, not oneDNN's emulation
    assert ("gpu" in facts) == torch.cuda.is_available()
