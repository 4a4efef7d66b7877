"""The autoencoder and VAE steps: the KL term, the reparameterisation trick, the denoising noise, resumes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from layerlab.data import TensorData
from layerlab.engine import RunDir, fit
from layerlab.engine.metrics import MSE, Metrics
from layerlab.models import get_model
from layerlab.models.vae import reparameterise
from layerlab.tasks.generative import Reconstruction, VariationalAutoEncoding, add_noise, kl_divergence, pixels


def test_kl_term_equals_the_closed_form_of_two_gaussians():
    mu = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.3, -1.2]], dtype=torch.float64)
    logvar = torch.tensor([[0.0, 0.0], [0.0, 0.0], [math.log(0.25), math.log(4.0)]], dtype=torch.float64)
    # computed independently: torch's KL between Normal(μ, σ) and Normal(0, 1), summed over the latent numbers
    expected = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * logvar).exp()),
                                                 torch.distributions.Normal(0.0, 1.0)).sum(dim=1)
    torch.testing.assert_close(kl_divergence(mu, logvar), expected)
    # by hand: N(0, 1) costs nothing; μ = 1 costs ½μ² = 0.5; σ² = ¼ costs ½(¼ - 1 - ln ¼), σ² = 4 costs ½(4 - 1 - ln 4)
    hand = 0.5 * 0.3**2 + 0.5 * (0.25 - 1 - math.log(0.25)) + 0.5 * (-1.2) ** 2 + 0.5 * (4 - 1 - math.log(4))
    assert kl_divergence(mu, logvar).tolist() == pytest.approx([0.0, 0.5, hand], abs=1e-12)


def test_reparameterisation_lets_the_gradient_reach_mu_and_logvar():
    mu = torch.tensor([0.5, -1.0], requires_grad=True)
    logvar = torch.tensor([0.0, math.log(4.0)], requires_grad=True)
    eps = torch.tensor([1.5, -0.5])
    z = reparameterise(mu, logvar, eps)                    # μ + exp(½ log σ²)·ε = [0.5 + 1.5, -1 + 2·(-0.5)]
    assert z.tolist() == pytest.approx([2.0, -2.0])
    z.sum().backward()
    assert mu.grad.tolist() == [1.0, 1.0]                  # ∂z/∂μ = 1
    assert logvar.grad.tolist() == pytest.approx([0.5 * 1.0 * 1.5, 0.5 * 2.0 * -0.5])   # ∂z/∂logσ² = ½σε


def test_a_vae_draws_epsilon_from_its_generator_and_leaves_the_global_rng_alone():
    torch.manual_seed(0)
    model = get_model("vae", latent=3)
    x = torch.rand(4, 1, 28, 28)
    before = torch.get_rng_state()
    first = model(x, torch.Generator().manual_seed(5))
    second = model(x, torch.Generator().manual_seed(5))
    assert torch.equal(torch.get_rng_state(), before)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    mu, logvar = model.encode(x)
    assert not torch.equal(model.decode(mu), first[0])     # the sample is not the mean


def test_denoising_noise_is_clipped_deterministic_by_seed_and_never_from_the_global_rng():
    images = torch.tensor([[0.0, 0.5, 1.0, 0.98]]).repeat(256, 1)
    before = torch.get_rng_state()
    noisy = add_noise(images, 0.4, torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(noisy, add_noise(images, 0.4, torch.Generator().manual_seed(3)))
    assert not torch.equal(noisy, add_noise(images, 0.4, torch.Generator().manual_seed(4)))
    by_hand = (images + 0.4 * torch.randn(images.shape, generator=torch.Generator().manual_seed(3))).clamp(0, 1)
    assert torch.equal(noisy, by_hand)
    assert float(noisy.min()) == 0.0 and float(noisy.max()) == 1.0
    # about half the draws at a black pixel fall below 0 and at a white one rise above 1: clipped (seed 3: 126, 105 of 256)
    assert int((noisy[:, 0] == 0).sum()) == 126 and int((noisy[:, 2] == 1).sum()) == 105


def test_the_mse_metric_is_rmse_without_the_root():
    metric = Metrics({"mse": MSE()})
    metric.update({"outputs": torch.tensor([[0.0, 1.0]]), "targets": torch.tensor([[0.5, 0.0]])})
    metric.update({"outputs": torch.tensor([[1.0, 1.0]]), "targets": torch.tensor([[1.0, 0.5]])})
    assert metric.compute() == {"mse": pytest.approx((0.25 + 1 + 0 + 0.25) / 4)}


class Tiny(nn.Module):
    """16 pixels -> 4 -> 16 logits, on 1x4x4 images."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(16, 4), nn.ReLU(), nn.Linear(4, 16), nn.Unflatten(1, (1, 4, 4)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _patterns(n: int = 64) -> TensorData:
    """Four fixed 4x4 binary patterns, repeated: uint8 0 or 255."""
    base = torch.tensor([[1, 0, 0, 1] * 4, [0, 1, 1, 0] * 4, [1] * 8 + [0] * 8, [0] * 8 + [1] * 8], dtype=torch.uint8) * 255
    return TensorData(base[torch.arange(n) % 4].view(n, 1, 4, 4), torch.arange(n) % 4)


def test_reconstruction_step_learns_the_patterns_and_reports_bce_and_mse():
    torch.manual_seed(0)
    step = Reconstruction(Tiny(), lr=3e-2, seed=0)
    history = fit(step, _patterns(), val=_patterns(), epochs=30, batch_size=16, device="cpu", progress=False,
                  transform=pixels, eval_transform=pixels)
    # the mean image is 0.5 everywhere: BCE ln 2 = 0.693, MSE 0.25; four patterns fit through 4 numbers
    # (seed 0 on this CPU: BCE 0.0324, MSE 0.0036 after 30 epochs; 0.0522 after 20)
    assert history.last["val_bce"] < 0.05 and history.last["val_mse"] < 0.01
    assert history.higher_is_better == {"bce": False, "mse": False}


def test_a_resumed_denoising_run_draws_the_same_noise_and_ends_bit_identical(tmp_path):
    def train(epochs: int, folder) -> Reconstruction:
        torch.manual_seed(0)
        step = Reconstruction(Tiny(), lr=1e-2, noise=0.4, seed=7)
        fit(step, _patterns(), epochs=epochs, batch_size=16, device="cpu", progress=False, transform=pixels,
            run=RunDir(folder), seed=1)
        return step

    straight = train(3, tmp_path / "straight")
    train(1, tmp_path / "resumed")
    resumed = train(3, tmp_path / "resumed")                # picks up epoch 1's checkpoint, generator state included
    for a, b in zip(straight.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)
    assert torch.equal(straight.generators["noise"].get_state(), resumed.generators["noise"].get_state())


def test_vae_step_reports_loss_as_bce_plus_kl_per_image():
    torch.manual_seed(0)
    model = get_model("vae", latent=2, hidden=8)
    images = torch.rand(6, 1, 28, 28).round()
    values = VariationalAutoEncoding(model, lr=None, seed=0).evaluate((images, torch.zeros(6)))
    logits, mu, logvar = model(images, torch.Generator().manual_seed(0))           # the same ε: the same seed
    bce = nn.functional.binary_cross_entropy_with_logits(logits, images, reduction="sum") / 6
    torch.testing.assert_close(values["bce"], bce)
    torch.testing.assert_close(values["kl"], kl_divergence(mu, logvar).mean())
    torch.testing.assert_close(values["loss"], values["bce"] + values["kl"])
    assert values["count"] == 6
