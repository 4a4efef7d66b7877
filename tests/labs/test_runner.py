"""run_lab / resume_lab record in config.json how a run went: running, then finished, failed,
diverged or interrupted, with start and end times, wall seconds and a one-line error."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from layerlab.engine.run import RunDir
from layerlab.engine.trainer_state import DivergenceError
from layerlab.errors import LayerlabError
from layerlab.labs import resume_lab, run_lab
from layerlab.labs.runner import ending


def only_run(out: Path) -> dict:
    [config] = list(out.glob("cubic-sin/*/config.json"))
    return json.loads(config.read_text())


def test_a_finished_run_records_its_times_and_seconds(tmp_path):
    outcome = run_lab("cubic-sin", {"iterations": 10}, out=tmp_path)
    config = only_run(tmp_path)
    assert config["status"] == "finished" and "error" not in config
    started, ended = datetime.fromisoformat(config["started"]), datetime.fromisoformat(config["ended"])
    assert started.tzinfo is not None and ended.tzinfo is not None and started <= ended
    assert config["seconds"] == outcome["seconds"]
    assert config["lab"] == "cubic-sin" and config["config"]["iterations"] == 10


def test_a_lab_that_raises_a_user_error_is_failed_with_its_message(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):   # the second figure fails, after the first was written
        raise LayerlabError("cannot draw the loss curve")

    monkeypatch.setattr("layerlab.labs.cubic_sin.plot_history", refuse)
    with pytest.raises(LayerlabError):
        run_lab("cubic-sin", {"iterations": 10}, out=tmp_path)
    config = only_run(tmp_path)
    assert config["status"] == "failed" and config["error"] == "cannot draw the loss curve"
    assert config["config"]["iterations"] == 10 and config["lab"] == "cubic-sin"   # nothing lost


def test_a_bad_option_value_is_refused_before_any_run_folder(tmp_path):
    with pytest.raises(LayerlabError, match="^--method must be manual, autograd or optim; got 'magic'$"):
        run_lab("cubic-sin", {"method": "magic"}, out=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_run_whose_loss_explodes_is_diverged(tmp_path):
    with pytest.raises(DivergenceError) as info:
        run_lab("cubic-sin", {"method": "optim", "lr": 1.0, "iterations": 50}, out=tmp_path)
    config = only_run(tmp_path)
    assert config["status"] == "diverged" and config["error"] == str(info.value)


def test_ending_names_the_status_and_one_line_for_each_kind_of_exception():
    assert ending(KeyboardInterrupt()) == ("interrupted", None)
    assert ending(LayerlabError("no such file")) == ("failed", "no such file")
    assert ending(RuntimeError("CUDA out of memory.\nTried to allocate 2 GiB")) == \
        ("failed", "RuntimeError: CUDA out of memory.")
    assert ending(DivergenceError("the loss became nan")) == ("diverged", "the loss became nan")


def test_resume_sets_the_run_running_again_and_then_records_the_new_ending(tmp_path):
    run_lab("cubic-sin", {"iterations": 10}, out=tmp_path)
    run = RunDir(next(tmp_path.glob("cubic-sin/*")))
    run.mark_ended("failed", seconds=3.0, error="a disk filled up")     # as a crashed attempt leaves it
    started = run.config["started"]
    run.mark_resumed()
    assert run.config["status"] == "running" and "ended" not in run.config and "error" not in run.config
    resume_lab(run.path)
    config = run.config
    assert config["status"] == "finished" and "error" not in config and config["started"] == started
    assert datetime.fromisoformat(config["resumed"]) <= datetime.fromisoformat(config["ended"])


def test_ctrl_c_leaves_an_interrupted_run_with_its_checkpoint(tmp_path):
    args = ["run", "mnist-mlp", "--dataset", "digits", "--epochs", "500", "--batch-size", "4", "--no-progress",
            "--out", str(tmp_path)]
    proc = subprocess.Popen([sys.executable, "-m", "layerlab", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))   # even if started ignoring it
    deadline = time.time() + 120
    checkpoints: list[Path] = []
    while time.time() < deadline and not checkpoints:
        checkpoints = list(tmp_path.glob("mnist-mlp/*/checkpoint.pt"))
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in stderr
    run = checkpoints[0].parent
    config = json.loads((run / "config.json").read_text())
    assert config["status"] == "interrupted" and "error" not in config and "ended" in config
    assert (run / "checkpoint.pt").is_file() and (run / "metrics.jsonl").read_text().strip()


def test_config_json_holds_the_normalisation_and_the_data_the_run_read(tmp_path):
    outcome = run_lab("mnist-mlp", {"dataset": "digits", "quick": True, "progress": False}, out=tmp_path)
    config = json.loads((Path(outcome["run_dir"]) / "config.json").read_text())
    # the digits' pixel mean and std (scikit-learn's 1,797 8x8 images, scaled to [0, 1])
    assert config["normalisation"]["mean"] == pytest.approx([0.3053], abs=1e-4)
    assert config["normalisation"]["std"] == pytest.approx([0.3759], abs=1e-4)
    assert config["normalisation"]["target_mean"] is None
    assert config["data"] == {"dataset": "digits", "data_dir": None, "source": None, "test_split": "test"}
