"""Training on several processes (engine/distributed.py), on CPU with 2 gloo processes started as
torchrun starts them: the processes stay identical and equal one process at the same global
batch, logged and evaluated metrics are the whole dataset's, a resumed run ends like an
uninterrupted one, and rank 1 writes nothing. The command line's --nproc is tested at the end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from layerlab.engine import evaluate, fit
from layerlab.engine.metrics import Accuracy, MeanLoss, Metrics
from layerlab.errors import LayerlabError
from tests.helpers.distributed import TRAIN, FreezingMLP, blobs, freeze_worker, mlp, resume_worker, spawn, train_worker

REPO = Path(__file__).resolve().parents[2]

# float32 sums in another order (two means of 8 instead of one of 16) differ in the last bits;
# after 12 SGD steps with momentum the weights agree to 1e-6 (measured here: at most 7.5e-8)
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("ddp")
    spawn(train_worker, str(out), 8)
    return [torch.load(out / f"rank{rank}.pt", weights_only=True) for rank in range(2)]


def test_both_processes_hold_the_same_weights_after_the_same_steps(two_processes: list[dict]) -> None:
    first, second = (result["state"] for result in two_processes)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)     # bit for bit: DDP averages the same gradients
    assert not any(k.startswith("module.") for k in first)          # the model itself, not DDP's wrapper


def test_two_processes_of_8_train_like_one_process_of_16(two_processes: list[dict]) -> None:
    # 60 samples: each epoch 3 steps of 16 (8 + 8) and a last one of 12 (6 + 6), as one process cuts them
    model = mlp()
    history = fit(model, blobs(60), batch_size=16, **TRAIN)
    ddp = two_processes[0]
    for key, value in model.state_dict().items():
        assert torch.allclose(ddp["state"][key], value, atol=TOLERANCE, rtol=0), key
    assert not torch.equal(model.state_dict()["0.weight"], mlp().state_dict()["0.weight"])    # it did train
    # the logged training figures are the whole epoch's, added over both processes
    for mine, single in zip(ddp["history"], history.epochs, strict=True):
        assert mine["train_accuracy"] == single["train_accuracy"]
        assert mine["train_loss"] == pytest.approx(single["train_loss"], rel=1e-6)


def test_evaluation_counts_every_sample_once(two_processes: list[dict]) -> None:
    # 101 samples: shards of 51 and 50, no padding; the all-reduced sums are one process's on all 101
    model = mlp()
    model.load_state_dict(two_processes[0]["state"])
    single = evaluate(model, blobs(101, seed=1), batch_size=16)
    for result in two_processes:
        assert result["scores"]["accuracy"] == single["accuracy"]
        assert result["scores"]["loss"] == pytest.approx(single["loss"], rel=1e-6)
    right = round(single["accuracy"] * 101)
    assert abs(single["accuracy"] - right / 101) < 1e-12          # a count out of 101, not 102


def test_a_loss_that_becomes_nan_in_one_process_stops_both(two_processes: list[dict]) -> None:
    # the guard is decided together: a process that stopped alone would leave the other waiting
    assert two_processes[1]["divergence"].startswith("the loss became nan at epoch 1, iteration 1")
    assert two_processes[0]["divergence"].startswith("the loss became NaN or infinite in another process at epoch 1")


def test_a_model_that_stops_training_a_parameter_midway_trains_under_ddp_like_one_process(tmp_path: Path) -> None:
    # DDP waits for every parameter's gradient unless told to look for the missing ones: without that the
    # second epoch fails ("Expected to have finished reduction in the prior iteration")
    spawn(freeze_worker, str(tmp_path))
    results = [torch.load(tmp_path / f"freeze{rank}.pt", weights_only=True) for rank in range(2)]
    single = FreezingMLP()
    fit(single, blobs(60), batch_size=16, **TRAIN)
    for result in results:
        first, last = result["biases"][0], result["biases"][-1]
        assert torch.equal(first, last) and not torch.equal(first, mlp().state_dict()["0.bias"])   # epoch 1 only
        for key, value in single.state_dict().items():
            assert torch.allclose(result["state"][key], value, atol=TOLERANCE, rtol=0), key


def test_metric_sums_of_two_halves_add_up_to_the_whole() -> None:
    """What the all-reduce does, without processes: the sums of two shards, added, are the whole's."""
    outputs, targets = torch.randn(21, 4), torch.randint(0, 4, (21,))
    whole = Metrics({"loss": MeanLoss(), "accuracy": Accuracy()})
    whole.update({"loss": torch.tensor(0.7), "count": 21, "outputs": outputs, "targets": targets})
    halves = []
    for part in (slice(0, 11), slice(11, 21)):
        half = Metrics({"loss": MeanLoss(), "accuracy": Accuracy()})
        half.update({"loss": torch.tensor(0.7), "count": part.stop - part.start, "outputs": outputs[part],
                     "targets": targets[part]})
        halves.append(half.sums())
    added = Metrics({"loss": MeanLoss(), "accuracy": Accuracy()})
    added.load_sums(halves[0] + halves[1])
    assert added.compute() == whole.compute()


def test_a_resumed_run_on_two_processes_ends_like_an_uninterrupted_one(tmp_path: Path) -> None:
    for rank in range(2):
        (tmp_path / f"cwd{rank}").mkdir()
    spawn(resume_worker, str(tmp_path))
    results = [torch.load(tmp_path / f"resume{rank}.pt", weights_only=True) for rank in range(2)]
    for result in results:                       # with batch norm: rank 0's running statistics everywhere
        for key, value in result["straight"].items():
            assert torch.equal(result["resumed"][key], value), key
            assert torch.equal(results[1]["straight"][key], results[0]["straight"][key]), key
    assert [row["epoch"] for row in results[0]["history"]] == [1, 2, 3, 4]
    assert not any((tmp_path / "cwd1").iterdir())                 # rank 1 wrote nothing where it ran
    folders = sorted(p.parent.parent.name for p in (tmp_path / "runs").glob("*/*/config.json"))
    assert folders == ["stopped", "straight"]                     # one folder per run: rank 0's
    stopped = next((tmp_path / "runs" / "stopped").iterdir())
    assert [json.loads(line)["epoch"] for line in (stopped / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3, 4]
    weights = load_file(stopped / "model.safetensors")
    assert all(torch.equal(weights[k], results[0]["resumed"][k]) for k in weights)


def test_resuming_with_another_number_of_processes_is_refused(tmp_path: Path) -> None:
    from layerlab.labs import resume_lab

    run = tmp_path / "mnist-mlp" / "20250101-000000"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"lab": "mnist-mlp", "config": {}, "status": "interrupted",
                                                 "processes": 2}))
    with pytest.raises(LayerlabError, match="trained on 2 process.*--nproc 2"):
        resume_lab(run)


def test_layerlab_run_nproc_2_trains_with_torchrun_and_writes_one_run_folder(tmp_path: Path) -> None:
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir(), home.mkdir()
    command = [sys.executable, "-m", "layerlab", "run", "mnist-mlp", "--dataset", "digits", "--epochs", "2",
               "--batch-size", "32", "--no-progress", "--out", "runs", "--json", "--nproc", "2"]
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "HOME": str(home)}
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("run folder:") == 1                  # printed by rank 0 only
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    runs = list((work / "runs").glob("*/*/config.json"))
    assert [p.parent for p in runs] == [Path(outcome["run_dir"])]
    run = Path(outcome["run_dir"])
    config = json.loads((run / "config.json").read_text())
    assert config["processes"] == 2 and config["status"] == "finished"
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    assert not any(k.startswith("module.") for k in load_file(run / "model.safetensors"))
    assert 0.5 < outcome["test_accuracy"] <= 1.0
    assert sorted(p.name for p in work.iterdir()) == ["runs"]       # nothing else written where it ran


def test_a_step_that_does_not_train_through_ddp_yet_says_so_in_one_line() -> None:
    from tests.helpers.steps import TinyGan

    with pytest.raises(LayerlabError, match="TinyGan step does not train on several processes yet"):
        TinyGan().distribute(lambda model: model)


def test_nproc_is_taken_out_of_the_command_each_process_runs() -> None:
    from layerlab.cli import _without_nproc
    from layerlab.engine.distributed import launch

    assert _without_nproc(["mnist-mlp", "--nproc", "2", "--epochs", "1", "--nproc=3"]) == ["mnist-mlp", "--epochs", "1"]
    with pytest.raises(LayerlabError, match="--nproc must be at least 1, got 0"):
        launch(0, ["run", "mnist-mlp"])
