"""The student's path through the CLI (issue 11): options that explain themselves, runs that say
where they are, failed starts that leave nothing behind, smoke runs that say so."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from layerlab.cli import main
from layerlab.labs import LABS
from layerlab.labs.base import option_help


def test_every_option_of_every_registered_lab_has_help():
    missing = [f"{name} --{f.name.replace('_', '-')}" for name in LABS.names()
               for f in dataclasses.fields(LABS.get(name).meta["config"])
               if not option_help(LABS.get(name).meta["config"], f.name)[0]]
    assert missing == []


def test_run_lab_help_shows_help_default_and_choices(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "cubic-sin", "--help"])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())     # argparse wraps to the terminal's width
    assert ("--method METHOD how the gradients are found: by hand, by autograd, or by torch.optim.SGD through fit "
            "(default: manual); one of manual, autograd, optim") in out
    assert "--iterations ITERATIONS gradient-descent steps over all the points (default: 2000)" in out
    assert "--quick, --no-quick a smoke run: a small slice of the data" in out


@pytest.mark.parametrize("name", LABS.names())
def test_every_labs_help_prints_even_with_a_percent_sign_in_it(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", name, "--help"])
    assert exit_.value.code == 0 and "--epochs" in capsys.readouterr().out
    if name == "degradation":     # its schedule's help says "50% and 75%"; argparse formats help with %
        with pytest.raises(SystemExit):
            main(["run", name, "--help"])
        assert "then /10 at 50% and 75%" in " ".join(capsys.readouterr().out.split())


def test_run_help_lists_the_labs_and_says_what_quick_does(capsys):
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    assert "  cubic-sin            Fit a cubic to sin(x) with hand-written gradients" in out.splitlines()
    assert all(f"  {name} " in out for name in LABS.names())
    assert "--quick: a smoke run: a small slice of the data and one or two epochs" in out


def test_a_value_outside_an_options_choices_is_one_line_before_any_run_folder(tmp_path, capsys):
    assert main(["run", "stock-rnn", "--cell", "transformer", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == "error: --cell must be rnn, lstm, gru or all; got 'transformer'\n"
    assert list(tmp_path.iterdir()) == []


# --- a run says where it is, and Ctrl-C says how to go on --------------------------------------

def _start(tmp_path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "layerlab", "run", "mnist-mlp", "--dataset", "digits",
                             "--no-progress", "--out", str(tmp_path), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_ctrl_c_reaches_the_child)


def _ctrl_c_reaches_the_child() -> None:
    # a test run started in the background inherits SIGINT ignored, and Python keeps it ignored:
    # the child gets the default disposition, so Python installs its KeyboardInterrupt handler
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("wait_for_checkpoint", [False, True])
def test_ctrl_c_names_the_folder_to_resume_and_whether_it_has_a_checkpoint(tmp_path, wait_for_checkpoint):
    proc = _start(tmp_path, "--epochs", "50", "--batch-size", "4")
    first = proc.stdout.readline().strip()              # printed before any data is read
    run = Path(first.removeprefix("run folder: "))
    assert first.startswith("run folder: ") and run.parent == tmp_path / "mnist-mlp" and run.is_dir()
    deadline = time.time() + 120
    # metrics.jsonl is written after checkpoint.pt: once it exists, a checkpoint does too
    while wait_for_checkpoint and not (run / "metrics.jsonl").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    if wait_for_checkpoint:
        import torch   # the epoch the checkpoint holds (a later epoch may have been saved after the file above)
        epoch = torch.load(run / "checkpoint.pt", weights_only=True)["epoch"]
        assert err.strip().splitlines()[-1] == f"error: interrupted; its checkpoint holds epoch {epoch}: layerlab resume {run}"
    else:
        assert err.strip().splitlines()[-1] == ("error: interrupted; it has no checkpoint yet (no epoch had finished), "
                                                f"so resuming starts from the beginning: layerlab resume {run}")
    assert json.loads((run / "config.json").read_text())["status"] == "interrupted"


@pytest.mark.parametrize("args, message", [
    (["--data-dir", "nowhere"], "error: mnist: the data folder"),                      # missing data
    (["--dataset", "mnsit"], "error: unknown dataset 'mnsit'"),                     # a bad value the lab meets
])
def test_a_failed_start_leaves_no_run_folder_behind(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAYERLAB_DATA", str(tmp_path / "no-data"))
    assert main(["run", "mnist-mlp", "--quick", "--no-progress", "--out", str(tmp_path / "runs"), *args]) == 2
    out, err = capsys.readouterr()
    assert err.startswith(message) and len(err.strip().splitlines()) == 1
    assert out.startswith(f"run folder: {tmp_path / 'runs' / 'mnist-mlp'}")    # it was announced, then removed
    assert list((tmp_path / "runs").iterdir()) == []


# --- a smoke run says so; the report and config.json say how many epochs were trained ----------

def test_a_quick_run_says_it_is_a_smoke_run_and_records_the_epochs_trained(tmp_path, capsys):
    assert main(["run", "mnist-mlp", "--dataset", "digits", "--quick", "--no-progress", "--json",
                 "--out", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["smoke_run"] is True and out["epochs"] == 1
    run = Path(out["run_dir"])
    assert json.loads((run / "result.json").read_text())["smoke_run"] is True
    assert json.loads((run / "config.json").read_text())["trained"] == {"epochs": 1}
    report = (run / "report.md").read_text().splitlines()
    assert report[5].startswith("**Smoke run (--quick)**: a small slice of the data and one or two epochs")
    assert report[7] == "Trained 1 epoch."


# --- run folders travel ---------------------------------------------------------------------------

def test_a_copied_run_folder_evaluates_predicts_and_resumes_from_another_folder(tmp_path, capsys, monkeypatch):
    import shutil

    from PIL import Image
    from sklearn.datasets import load_digits

    (tmp_path / "a").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    assert main(["run", "mnist-mlp", "--dataset", "digits", "--quick", "--no-progress", "--json", "--out", "runs"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert Path(out["run_dir"]).is_absolute()
    moved = tmp_path / "b" / "moved"
    shutil.copytree(out["run_dir"], moved)
    shutil.rmtree(tmp_path / "a")                          # nothing of the first folder is left to lean on
    (tmp_path / "c").mkdir()
    monkeypatch.chdir(tmp_path / "c")
    assert main(["eval", "../b/moved", "--json"]) == 0
    scored = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert scored["examples"] == 359 and scored["test_accuracy"] == pytest.approx(out["test_accuracy"])
    assert main(["eval", "../b/moved"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "scored 359 held-out examples"
    Image.fromarray((load_digits().images[0] * 255 / 16).astype("uint8")).save("zero.png")
    assert main(["predict", "../b/moved", "zero.png", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["predictions"][0]["file"] == "zero.png"
    assert main(["resume", "../b/moved", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == f"run folder: {moved}"
    resumed = json.loads(lines[-1])
    assert resumed["run_dir"] == str(moved) and resumed["test_accuracy"] == out["test_accuracy"]


def test_every_list_that_an_error_hint_names_exists(capsys):
    from layerlab.engine.optim import get_schedule
    from layerlab.errors import LayerlabError

    with pytest.raises(LayerlabError, match=r"see `layerlab list schedules`"):
        get_schedule("one-cylce", None, 1, 1)
    assert main(["list", "schedules"]) == 0
    rows = capsys.readouterr().out.splitlines()
    from layerlab.engine.optim import SCHEDULES

    names = [row.split()[0] for row in rows]
    assert names == sorted(SCHEDULES.names()) and {"cosine", "multistep", "one-cycle", "step"} <= set(names)
