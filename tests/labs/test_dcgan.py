"""The dcgan lab end to end on small IDX files the test writes; a kill -9 and resume ends bit-identical;
the default run's figures on real MNIST are @slow."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from layerlab.cli import main
from layerlab.engine.checkpoint import load_state
from layerlab.engine.deploy import load_trained
from layerlab.errors import LayerlabError
from layerlab.labs import resume_lab, run_lab
from layerlab.tasks.gan import generate
from tests.helpers.fake_files import write_bar_digits

REPO = Path(__file__).resolve().parents[2]
TINY = {"quick": True, "width": 8, "latent": 16, "progress": False}   # quick: 512 images, 2 epochs, 256 samples


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))  # never the user's ~/.cache


@pytest.fixture
def digits(tmp_path) -> Path:
    """IDX files of 28x28 'digits': a bright bar whose row says the class, on dark noise."""
    return write_bar_digits(tmp_path / "digits", {"train": 600, "test": 300}, noise=40)


def test_dcgan_quick_writes_the_run_folder_and_predict_draws_samples(tmp_path, digits, capsys):
    out = run_lab("dcgan", {**TINY, "data_dir": str(digits)}, out=tmp_path / "runs")
    run = Path(out["run_dir"])
    assert out["epochs"] == 2
    for name in ("report.md", "model.safetensors", "checkpoint.pt", "model.json", "samples/epoch_001.png",
                 "samples/epoch_002.png", "figures/samples.png", "figures/progression.png", "figures/game.png",
                 "figures/verdict.png"):
        assert (run / name).is_file(), name
    assert 0 < out["frechet_floor"] < out["frechet"]                   # a tiny generator after 8 steps: far from real
    assert out["frechet_ratio"] == pytest.approx(out["frechet"] / out["frechet_floor"], rel=0.02)   # 6-decimal rounding
    assert 1.0 <= out["inception_score"] <= 10.0 and 1 <= out["modes_covered"] <= 10
    assert 0.0 < out["d_real"] < 1.0 and 0.0 < out["d_fake"] < 1.0
    report = (run / "report.md").read_text()
    assert "Not Inception FID" in report and "real vs real" in report
    weights = load_file(str(run / "model.safetensors"))
    assert {k.split(".")[0] for k in weights} == {"generator", "discriminator", "average"}
    g, a = weights["generator.net.0.weight"], weights["average.net.0.weight"]   # the average trails G, it is not G
    assert g.shape == a.shape and 0 < (g - a).abs().max() < g.abs().max()
    assert out["frechet_generator"] > 0 and 1.0 <= out["inception_score_generator"] <= 10.0
    assert "moving average of G's weights (decay 0.999" in report

    # layerlab predict RUN --samples N --seed S: N PNGs and a grid, the same for the same seed
    assert main(["predict", str(run), "--samples", "5", "--seed", "3", "--json"]) == 0
    folder = Path(json.loads(capsys.readouterr().out)["predictions"][0]["folder"])
    assert folder == run / "samples" / "seed-3"
    assert sorted(p.name for p in folder.iterdir()) == ["0000.png", "0001.png", "0002.png", "0003.png", "0004.png", "grid.png"]
    assert Image.open(folder / "0004.png").size == (28, 28)
    model, _ = load_trained(run)                                      # the samples come from the average, not G
    z = torch.randn(5, 16, generator=torch.Generator().manual_seed(3))
    drawn = torch.from_numpy(np.array(Image.open(folder / "0004.png"))).float() / 255
    assert (drawn - generate(model.average, z)[4, 0]).abs().max() <= 0.5 / 255 + 1e-6
    assert (drawn - generate(model.generator, z)[4, 0]).abs().max() > 2 / 255
    first = (folder / "0002.png").read_bytes()
    assert main(["predict", str(run), "--samples", "3", "--seed", "3"]) == 0 and (folder / "0002.png").read_bytes() == first
    assert main(["predict", str(run), "--samples", "3", "--seed", "4"]) == 0
    assert (run / "samples" / "seed-4" / "0002.png").read_bytes() != first
    # an image file: the discriminator's probability that it is real
    assert main(["predict", str(run), str(folder / "0000.png"), "--json"]) == 0
    assert 0.0 < json.loads(capsys.readouterr().out.splitlines()[-1])["predictions"][0]["d_real"] < 1.0
    assert main(["predict", str(run)]) == 2
    assert "or --samples N for a run that generates" in capsys.readouterr().err


def test_g_full_betas_and_lr_reach_the_generator_and_both_adams(tmp_path, digits):
    options = {"g_full": 4, "beta1": 0.3, "beta2": 0.98, "lr": 1e-4, "epochs": 1}      # none of them the defaults
    out = run_lab("dcgan", {**TINY, "data_dir": str(digits), **options}, out=tmp_path / "runs")
    run = Path(out["run_dir"])
    weights = load_file(str(run / "model.safetensors"))
    assert weights["generator.net.15.weight"].shape == (1, 4, 3, 3)   # the 3x3 conv that draws from 4 maps at 28x28
    assert weights["average.net.15.weight"].shape == (1, 4, 3, 3)     # the average has G's layers
    state = load_state(run / "checkpoint.pt")
    groups = {name: opt["param_groups"][0] for name, opt in state["optimizers"].items()}
    assert {name: (g["betas"], g["lr"]) for name, g in groups.items()} == \
        {"generator": ((0.3, 0.98), 1e-4), "discriminator": ((0.3, 0.98), 1e-4)}
    assert load_trained(run)[0].generator.cfg.g_full == 4              # model.json keeps the option for predict


def test_a_decay_outside_0_1_is_a_one_line_error(tmp_path, digits):
    with pytest.raises(LayerlabError, match=r"needs a decay in \[0, 1\), got ema=-0.5"):
        run_lab("dcgan", {**TINY, "data_dir": str(digits), "ema": -0.5}, out=tmp_path / "runs")


def test_dcgan_killed_with_sigkill_resumes_both_networks_and_optimizers_bit_identically(tmp_path, digits):
    options = {**TINY, "data_dir": str(digits), "batch_size": 8}      # 64 iterations an epoch: time to kill in epoch 2
    whole = Path(run_lab("dcgan", options, out=tmp_path / "whole")["run_dir"])
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1"}   # as in-process
    command = [sys.executable, "-m", "layerlab", "run", "dcgan", "--quick", "--width", "8", "--latent", "16",
               "--batch-size", "8", "--no-progress", "--data-dir", str(digits), "--out", str(tmp_path / "killed")]
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list((tmp_path / "killed").glob("dcgan/*/checkpoint.pt")):
        time.sleep(0.02)
    time.sleep(0.05)                                                   # let the atomic write land, then kill
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = next((tmp_path / "killed").glob("dcgan/*"))
    assert load_state(killed / "checkpoint.pt")["epoch"] == 1
    outcome = resume_lab(killed)
    assert outcome["epochs"] == 2
    for name, tensor in load_file(str(whole / "model.safetensors")).items():    # both networks, every tensor
        assert torch.equal(load_file(str(killed / "model.safetensors"))[name], tensor), name
    ours, theirs = load_state(killed / "checkpoint.pt"), load_state(whole / "checkpoint.pt")
    assert set(theirs["optimizers"]) == {"generator", "discriminator"}
    assert set(theirs["models"]) == {"generator", "discriminator", "average"}   # the average too (every tensor above)
    for name, state in theirs["optimizers"].items():                   # both Adams: step, exp_avg, exp_avg_sq
        for index, moments in state["state"].items():
            for key, value in moments.items():
                assert torch.equal(ours["optimizers"][name]["state"][index][key], value), (name, index, key)
    assert [r["train_g_loss"] for r in ours["history"]] == [r["train_g_loss"] for r in theirs["history"]]
    assert (killed / "samples" / "epoch_002.png").read_bytes() == (whole / "samples" / "epoch_002.png").read_bytes()


@pytest.mark.slow
def test_dcgan_default_run_on_real_mnist(tmp_path, shared_datasets, monkeypatch):
    """The default run's measured figures (seed 0, 5 epochs of batch 32 at width 32 with one extra layer in G at 7x7
    and four in D at 14x14, one more in G at 14x14 and 16 maps at 28x28 under its pixels, Adam 3e-4 with betas
    (0, 0.99), the R1 penalty every 16th step, samples from the moving average of G's weights, decay 0.999; in float32
    on a 2-core AVX-512 Xeon without bf16: 12 min 9 s; bf16 where the CPU has it). Every goal of the issue holds:
    the judge's accuracy, 10-of-10 digits, the largest class (11.4%, goal <= 15%), the Fréchet distance (2.2x its
    same-size floor, goal 3x), the Inception Score (9.06, goal 9.0; seeds 1 and 2: 9.08, 9.01) and the 15 minutes
    on that machine. The average's distance was below G's own (here 10.8, IS 8.79) in every run and at every epoch
    judged in the benchmark games; G's swings by up to 2x from epoch to epoch."""
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)                # the judge may come from the real cache
    out = run_lab("dcgan", {"data_dir": str(shared_datasets / "mnist"), "progress": False}, out=tmp_path / "runs")
    assert out["judge_test_accuracy"] >= 0.99                          # measured 0.9925
    assert out["inception_score_real"] >= 9.7                          # measured 9.742
    assert out["modes_covered"] == 10                                  # measured 10 of 10
    assert out["largest_class_share"] <= 0.15                          # measured 0.1135: the goal, met
    assert out["inception_score"] >= 9.0                               # measured 9.06: the goal, met
    assert out["frechet_ratio"] <= 3                                   # measured 2.17: the goal, met
    assert out["frechet"] < out["frechet_generator"]                   # measured 1.88 against G's own 10.8
    assert out["inception_score"] >= out["inception_score_generator"] - 0.05   # 9.06 against 8.79 (a seed of before: 8.26 both)
    assert 0.7 <= out["frechet_floor"] <= 1.0                         # measured 0.869: 10,000 training images vs test
    assert out["two_sample_accuracy"] <= 0.6                           # measured 0.543 (0.5 = indistinguishable)
    assert 0.4 <= out["d_real"] <= 0.65                                # measured 0.511: a close game, not D winning
    assert 0.45 <= out["two_sample_floor"] <= 0.55                     # measured 0.519: real vs real is a coin toss
