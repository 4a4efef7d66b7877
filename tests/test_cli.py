"""The command line contract of DESIGN.md §6, run as a user would (subprocesses)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from layerlab.cli import main
from layerlab.engine.checkpoint import load_state


def layerlab(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "layerlab", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def last_json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_summary_json_reports_the_course_mlp_size():
    out = last_json(layerlab("summary", "mlp", "--json"))
    assert out["total_params"] == 50_890
    assert [layer["formula"] for layer in out["layers"] if layer["params"]] == ["784·64 + 64 = 50,240", "64·10 + 10 = 650"]


@pytest.mark.parametrize("args, message", [
    (["run", "mnist-mpl"], "error: unknown lab 'mnist-mpl'; did you mean mnist-mlp?"),
    (["run", "cubic-sin", "--iterations", "many"], "error: --iterations expects int, got 'many'"),
    (["summary", "mlp", "--input", "a,b"], "error: --input expects C,H,W integers"),
    (["resume", "/nonexistent/run"], "error: /nonexistent/run is not a layerlab run folder"),
    (["run", "cubic-sin", "--method", "magic"], "error: --method must be manual, autograd or optim"),
])
def test_user_mistakes_are_one_line_errors_with_exit_code_2(args, message):
    proc = layerlab(*args)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(message)
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("value", ["nan", "inf", "1e999"])
def test_a_non_finite_learning_rate_is_one_line_before_any_run_folder(value, tmp_path, capsys):
    # cubic-sin's manual method never reaches get_optimizer: the option itself is checked
    assert main(["run", "cubic-sin", "--lr", value, "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: --lr expects a finite number, got {value}\n"
    assert list(tmp_path.iterdir()) == []


def test_run_eval_and_predict_on_digits(tmp_path):
    out = last_json(layerlab("run", "mnist-mlp", "--dataset", "digits", "--epochs", "12", "--batch-size", "32",
                             "--out", str(tmp_path), "--json"))
    assert out["lab"] == "mnist-mlp" and out["epochs"] == 12 and out["test_accuracy"] >= 0.93
    run = Path(out["run_dir"])
    for name in ("config.json", "metrics.jsonl", "model.safetensors", "checkpoint.pt", "report.md", "summary.txt",
                 "model.json", "figures/curves.png", "figures/confusion_matrix.png", "figures/predictions.png"):
        assert (run / name).is_file(), name
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 12
    again = last_json(layerlab("eval", str(run), "--json"))
    assert again["test_accuracy"] == pytest.approx(out["test_accuracy"])
    # an RGB image of another size: converted and resized, and the user is told
    from PIL import Image
    from sklearn.datasets import load_digits

    digit = load_digits().images[0] * 255 / 16                       # a "0"
    Image.fromarray(digit.astype("uint8")).convert("RGB").resize((40, 40)).save(tmp_path / "zero.png")
    pred = last_json(layerlab("predict", str(run), str(tmp_path / "zero.png"), "--json"))["predictions"][0]
    assert pred["class"] == "0" and pred["probability"] > 0.5
    assert any("RGB" in n for n in pred["notes"]) and any("resized 40x40 to 8x8" in n for n in pred["notes"])
    # the top 5 are the 5 largest softmax probabilities of the saved model on that image, in order
    from layerlab.engine.deploy import image_input, load_trained

    model, card = load_trained(run)
    with torch.no_grad():
        expected = torch.softmax(model(image_input(card, tmp_path / "zero.png")[1]), dim=1)[0].topk(5)
    names = card.classes or tuple(str(i) for i in range(10))
    assert [t["class"] for t in pred["top"]] == [names[int(i)] for i in expected.indices]
    assert [t["probability"] for t in pred["top"]] == pytest.approx(expected.values.tolist(), abs=1e-4)


def test_a_killed_run_resumes_to_the_same_weights_and_metrics(tmp_path):
    args = ["run", "mnist-mlp", "--dataset", "digits", "--epochs", "6", "--batch-size", "4", "--no-progress", "--json"]
    whole = last_json(layerlab(*args, "--out", str(tmp_path / "whole")))
    proc = subprocess.Popen([sys.executable, "-m", "layerlab", *args, "--out", str(tmp_path / "killed")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    checkpoints: list[Path] = []
    while time.time() < deadline and not checkpoints:
        checkpoints = list((tmp_path / "killed").glob("mnist-mlp/*/checkpoint.pt"))
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    run = checkpoints[0].parent
    assert load_state(run / "checkpoint.pt")["epoch"] < 6
    resumed = last_json(layerlab("resume", str(run), "--json"))
    assert resumed["test_accuracy"] == whole["test_accuracy"] and resumed["test_loss"] == whole["test_loss"]
    a, b = load_file(str(run / "model.safetensors")), load_file(str(Path(whole["run_dir"]) / "model.safetensors"))
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_list_and_data_commands():
    labs = last_json(layerlab("list", "labs", "--json"))["labs"]
    assert {"cubic-sin", "mnist-mlp"} <= {row["name"] for row in labs}
    info = last_json(layerlab("data", "info", "digits", "--json"))
    assert info["input_shape"] == [1, 8, 8] and info["num_classes"] == 10


def test_explain_user_mistake_is_one_line_through_the_top_level_cli(capsys):
    assert main(["explain", "convv"]) == 2
    assert capsys.readouterr().err == "error: unknown explain topic 'convv'; did you mean conv, conv-size? (see `layerlab explain` for the list)\n"


def test_a_broken_explain_module_is_a_bug_not_a_missing_feature(monkeypatch):
    # None in sys.modules makes `import` raise ImportError, as a broken import inside explain would
    monkeypatch.setitem(sys.modules, "layerlab.viz.explain.cli", None)
    with pytest.raises(ImportError, match="layerlab.viz.explain.cli"):
        main(["explain", "conv"])


@pytest.mark.parametrize("name, total, encoder", [("seq2seq", 1_339_061, 884_736), ("seq2seq-attention", 1_371_957, 884_736)])
def test_summary_of_a_two_input_model_passes_source_and_target(name, total, encoder, capsys):
    assert main(["summary", name, "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["total_params"] == total
    assert out["input_shape"] == [[12], [12]]                       # (src, tgt_in) token ids
    layers = {layer["name"]: layer for layer in out["layers"]}
    assert layers["src_embedding"]["formula"] == "5363·64 = 343,232"
    assert layers["encoder"]["macs"] == encoder                     # 12 steps · 3 gates · 128 · (64 + 128)


def test_summary_with_an_input_that_does_not_fit_is_one_line(capsys):
    assert main(["summary", "mlp", "--input", "1,20,20"]) == 2
    assert capsys.readouterr().err == ("error: input shape (1, 20, 20) does not fit mlp (registered input (1, 28, 28)): "
                                       "mat1 and mat2 shapes cannot be multiplied (1x400 and 784x64)\n")


@dataclass(frozen=True)
class BrokenConfig:
    width: int = 3


class Broken(torch.nn.Module):
    def __init__(self, cfg: BrokenConfig = BrokenConfig()) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(cfg.width, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("a bug in forward")


def broken(**overrides: object) -> Broken:
    return Broken(BrokenConfig(**overrides))


def test_summary_of_a_model_with_a_bug_keeps_its_traceback(monkeypatch):
    from layerlab.models import MODELS
    from layerlab.registry import Entry

    meta = {"input_shape": (3,), "num_params": 4, "task": "regression", "input_dtype": torch.float32}
    monkeypatch.setitem(MODELS._entries, "broken", Entry("broken", broken, meta))
    for argv in (["summary", "broken"], ["summary", "broken", "--input", "5"]):   # the registered input fails too
        with pytest.raises(RuntimeError, match="a bug in forward"):
            main(argv)


@pytest.mark.parametrize("buffered", [True, False])
def test_a_reader_that_stops_early_ends_the_command_quietly_with_the_sigpipe_status(buffered):
    # `layerlab list models | head -1` once head has exited: the pipe is closed before the first write
    env = {**os.environ, "PYTHONUNBUFFERED": "" if buffered else "1"}
    proc = subprocess.Popen([sys.executable, "-m", "layerlab", "list", "models"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141       # 128 + SIGPIPE, what a shell reports for `yes | head -1`
    assert stderr == ""


def test_data_fetch_downloads_into_the_cache_once_then_reads_it(tmp_path, monkeypatch, capsys):
    from tests.helpers.fake_files import boston_rows, write_fake_boston
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("LAYERLAB_DATA", raising=False)
    served = write_fake_boston(tmp_path / "server", boston_rows(20))
    calls = []

    def download(url, dest, **kwargs):   # the network's stand-in: copies the file the test wrote
        calls.append(url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(served.read_bytes())
        return dest

    monkeypatch.setattr("layerlab.data.download.download", download)
    import dataclasses
    import hashlib
    import layerlab.data.tabular as tabular
    # the served file is the test's own: the published checksum becomes its checksum
    monkeypatch.setattr(tabular, "BOSTON_FILE", dataclasses.replace(
        tabular.BOSTON_FILE, sha256=hashlib.sha256(served.read_bytes()).hexdigest()))
    assert main(["data", "fetch", "boston-housing", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["splits"]["all"] == 20 and out["splits"]["train"] + out["splits"]["test"] == 20
    assert len(calls) == 1 and calls[0].endswith("BostonHousing.csv")
    assert main(["data", "fetch", "boston-housing"]) == 0              # now from the cache: no second download
    assert len(calls) == 1 and "ready" in capsys.readouterr().out
    assert main(["data", "fetch", "kor-eng"]) == 2                      # no public download: say which file goes where
    assert "put kor.txt into a folder and pass --data-dir" in capsys.readouterr().err
