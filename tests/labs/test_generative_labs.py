"""autoencoder and vae end to end on tiny files the tests write; predict and eval on their run folders.
The default runs on the real MNIST are @slow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from layerlab.cli import main
from layerlab.engine.deploy import evaluate_run, load_trained
from layerlab.labs import run_lab
from layerlab.tasks.generative import prior_samples
from tests.helpers.fake_files import write_fake_mnist


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("mnist")
    return folder, write_fake_mnist(folder, {"train": 48, "test": 30}, gz=False)


@pytest.fixture(scope="module")
def denoising_run(digits, tmp_path_factory) -> dict:
    folder, _ = digits
    return run_lab("autoencoder", {"data_dir": str(folder), "quick": True, "denoise": True, "progress": False},
                   out=tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def vae_run(digits, tmp_path_factory) -> dict:
    folder, _ = digits
    return run_lab("vae", {"data_dir": str(folder), "quick": True, "latent": 2, "progress": False},
                   out=tmp_path_factory.mktemp("runs"))


def test_autoencoder_lab_writes_its_figures_floor_and_a_test_bce_that_eval_repeats(digits, denoising_run):
    _, written = digits
    run_dir = Path(denoising_run["run_dir"])
    assert {p.stem for p in (run_dir / "figures").glob("*.png")} == {"reconstructions", "curves", "error_per_class", "latent_2d"}
    report = (run_dir / "report.md").read_text()
    assert "per-pixel mean binary cross-entropy" in report and "0.0622" in report and "0.084" in report
    # the floor: the mean training image as every answer, computed here from the written pixels
    train, test = written["train"][0].double() / 255, written["test"][0].double() / 255
    mean = train.mean(dim=0).expand_as(test)
    assert denoising_run["floor_bce"] == pytest.approx(float(F.binary_cross_entropy(mean, test)), abs=1e-5)
    assert denoising_run["floor_mse"] == pytest.approx(float((mean - test).pow(2).mean()), abs=1e-6)
    # eval rebuilds the model and the noise (seed + 1) from the run folder: the same numbers
    again = evaluate_run(run_dir)
    assert again["test_bce"] == pytest.approx(denoising_run["test_bce"], abs=1e-6)
    assert again["test_mse"] == pytest.approx(denoising_run["test_mse"], abs=1e-6)
    # the per-class table is the same noisy test images, image by image: its count-weighted mean is test_bce
    rows = denoising_run["tables"]["Test BCE per class"]
    counts = torch.bincount(written["test"][1].long(), minlength=10)
    weighted = sum(row["bce"] * int(counts[int(row["class"])]) for row in rows) / int(counts.sum())
    assert weighted == pytest.approx(denoising_run["test_bce"], abs=1e-5)


def test_predict_reconstructs_an_image_file_and_refuses_samples_from_an_autoencoder(denoising_run, tmp_path, capsys):
    image = np.zeros((28, 28), dtype=np.uint8)
    image[6:22, 12:16] = 255                                              # a "1": light on black, as MNIST
    Image.fromarray(image).save(tmp_path / "one.png")
    assert main(["predict", denoising_run["run_dir"], str(tmp_path / "one.png"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["predictions"][0]
    written = np.asarray(Image.open(result["reconstruction"]))
    assert result["reconstruction"] == str(tmp_path / "one_reconstruction.png") and written.shape == (28, 28)
    model, _ = load_trained(denoising_run["run_dir"])
    with torch.no_grad():                                                 # the file holds sigmoid(model(x)) in 8 bits
        expected = torch.sigmoid(model(torch.from_numpy(image).float().div(255).view(1, 1, 28, 28)))[0, 0]
    assert np.abs(written.astype(int) - (expected * 255).round().numpy().astype(int)).max() <= 1
    assert main(["predict", denoising_run["run_dir"], "--samples", "2"]) == 2
    assert capsys.readouterr().err.startswith("error: --samples draws new images from a generative run")
    assert main(["predict", denoising_run["run_dir"]]) == 2
    assert capsys.readouterr().err.strip() == "error: predict needs files to predict on, --prompt TEXT for a language model or translator, or --samples N for a run that generates (GAN, VAE)"


def test_vae_lab_with_a_2_number_code_draws_its_latent_plane_and_its_loss_is_bce_plus_kl(vae_run):
    run_dir = Path(vae_run["run_dir"])
    assert {p.stem for p in (run_dir / "figures").glob("*.png")} == {
        "samples", "interpolation", "reconstructions", "curves", "latent_map", "latent_grid"}
    assert vae_run["test_loss"] == pytest.approx(vae_run["test_bce"] + vae_run["test_kl"], abs=1e-3)
    assert "106.7" in (run_dir / "report.md").read_text()
    assert json.loads((run_dir / "model.json").read_text())["model"] == "conv-vae"
    assert evaluate_run(run_dir)["test_loss"] == pytest.approx(vae_run["test_loss"], abs=1e-4)   # the same ε (seed + 1)


def test_predict_samples_are_seeded_decodes_of_the_prior(vae_run, tmp_path, capsys):
    run_dir = vae_run["run_dir"]
    assert main(["predict", run_dir, "--samples", "3", "--seed", "1", "--out", str(tmp_path / "a"), "--json"]) == 0
    results = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["predictions"]
    assert [Path(r["file"]).name for r in results] == ["sample_000.png", "sample_001.png", "sample_002.png"]
    assert main(["predict", run_dir, "--samples", "3", "--seed", "1", "--out", str(tmp_path / "b")]) == 0
    assert main(["predict", run_dir, "--samples", "3", "--seed", "2", "--out", str(tmp_path / "c")]) == 0
    read = {k: np.stack([np.asarray(Image.open(tmp_path / k / f"sample_{i:03d}.png")) for i in range(3)]) for k in "abc"}
    assert np.array_equal(read["a"], read["b"]) and not np.array_equal(read["a"], read["c"])
    model, _ = load_trained(run_dir)
    expected = (prior_samples(model, 3, seed=1)[:, 0] * 255).round().numpy()
    assert np.abs(read["a"].astype(int) - expected.astype(int)).max() <= 1
    assert main(["predict", run_dir, "--samples", "1"]) == 0               # default folder: RUN_DIR/samples/seed-0
    assert (Path(run_dir) / "samples" / "seed-0" / "sample_000.png").is_file()


# --- the defaults on the real MNIST (make test-all) ------------------------------------------

@pytest.mark.slow
def test_vae_default_reaches_its_goal(shared_datasets, tmp_path):
    out = run_lab("vae", {"data_dir": str(shared_datasets / "mnist"), "progress": False}, out=tmp_path)
    # measured once (seed 0, shared machine): 103.65 after 10 epochs (104.50 at epoch 7; PyTorch's example: 106.7)
    assert out["test_loss"] <= 105.0


@pytest.mark.slow
@pytest.mark.parametrize("denoise, floor", [(False, 0.0631), (True, 0.0853)])
def test_conv_autoencoder_default_holds_its_measured_floor(shared_datasets, tmp_path, denoise, floor):
    # measured once (seed 0, batch 16, Adam 2e-3 + cosine, 10 epochs): 0.0629 and 0.0850. The goals are 0.063
    # (met, by 0.0001: the bound leaves that much again for thread-count noise) and 0.084 (NOT met by --denoise).
    out = run_lab("autoencoder", {"data_dir": str(shared_datasets / "mnist"), "denoise": denoise, "progress": False},
                  out=tmp_path)
    assert out["test_bce"] <= floor


@pytest.mark.slow
def test_denoising_autoencoder_with_one_cycle_for_16_epochs_meets_the_0_084_goal(shared_datasets, tmp_path):
    # measured once (seed 0, 2 cores): 0.0834 in 8 min 52 s wall (529 s in the lab); the cosine default: 0.0843
    out = run_lab("autoencoder", {"data_dir": str(shared_datasets / "mnist"), "denoise": True, "epochs": 16,
                                  "schedule": "one-cycle", "progress": False}, out=tmp_path)
    assert out["test_bce"] <= 0.084
    assert out["seconds"] <= 10 * 60
