"""Variational autoencoders (Kingma & Welling, 2014, "Auto-Encoding Variational Bayes"). Course unit: AutoEncoder.

What to notice: the encoder does not give a code, it gives a distribution over codes, a Gaussian
N(μ, σ²) per latent number, as two vectors: μ and log σ² (a log, so any real number is a valid
variance). The decoder is fed one sample z from it. Sampling has no gradient, so the sample is
written as a function of μ and σ and of noise that does not depend on them:

    ε ~ N(0, I)          drawn outside the network (the only randomness)
    σ = exp(½ · log σ²)
    z = μ + σ · ε        differentiable in μ and log σ²: ∂z/∂μ = 1, ∂z/∂σ = ε

That is the reparameterisation trick (`layerlab explain reparameterisation` draws it in 1-D).
The loss (tasks/generative.py) adds to the reconstruction error the KL divergence of N(μ, σ²)
from N(0, I), which keeps the codes where the decoder can later be fed samples of N(0, I).

`vae` is PyTorch's example, 784 → 400 → (μ, log σ²) of 20 → 400 → 784:
    784·400 + 400 = 314,000;  two heads 400·20 + 20 = 8,020 each;  20·400 + 400 = 8,400;
    400·784 + 784 = 314,384;  total 652,824.
`conv-vae` is Keras's VAE example with a 2-number code (so the latent space is a plane to draw):
    encoder conv 1→32 3x3 s2 (14x14): 320;  conv 32→64 3x3 s2 (7x7): 18,496;  64·7·7 → 16: 50,192;
            μ and log σ² heads 16 → 2: 34 each                                  (encoder 69,076)
    decoder 2 → 64·7·7: 9,408;  convT 64→64 s2 (14x14): 36,928;  convT 64→32 s2 (28x28): 18,464;
            convT 32→1 3x3: 289                                                 (decoder 65,089)
                                                                          total 134,165
The decoders end in logits; sigmoid(logits) is the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from layerlab.models.registry import register_model


def reparameterise(mu: Tensor, logvar: Tensor, eps: Tensor) -> Tensor:
    """z = μ + σ·ε with σ = exp(½·log σ²): a sample of N(μ, σ²) that gradients flow through to μ and log σ²."""
    sigma = torch.exp(0.5 * logvar)       # (B, latent)
    return mu + sigma * eps               # (B, latent)


def standard_normal(like: Tensor, generator: torch.Generator | None) -> Tensor:
    """ε ~ N(0, I) shaped like `like`, drawn from `generator` (on its device, then moved) or torch's own if None."""
    if generator is None:
        return torch.randn_like(like)
    return torch.randn(like.shape, generator=generator, device=generator.device).to(like)


@dataclass(frozen=True)
class VAEConfig:
    pixels: int = 784           # a flattened 28x28 image
    hidden: int = 400
    latent: int = 20


@dataclass(frozen=True)
class ConvVAEConfig:
    latent: int = 2             # two numbers: the latent space is a plane to draw
    channels: tuple[int, int] = (32, 64)
    hidden: int = 16
    in_channels: int = 1


class _Variational(nn.Module):
    """encode(x) -> (μ, log σ²); decode(z) -> logits; forward samples z with the reparameterisation trick."""

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.encode(x)                       # (B, latent) each
        eps = standard_normal(mu, generator)              # (B, latent), ε ~ N(0, I)
        z = reparameterise(mu, logvar, eps)               # (B, latent), z = μ + σ·ε
        return self.decode(z), mu, logvar                 # (B, 1, 28, 28) logits, and the two for the KL term


class VAE(_Variational):
    """PyTorch's MLP VAE: 784 → 400 → μ, log σ² (20 each); z → 400 → 784."""

    def __init__(self, cfg: VAEConfig = VAEConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.fc1 = nn.Linear(cfg.pixels, cfg.hidden)
        self.fc_mu = nn.Linear(cfg.hidden, cfg.latent)
        self.fc_logvar = nn.Linear(cfg.hidden, cfg.latent)
        self.fc3 = nn.Linear(cfg.latent, cfg.hidden)
        self.fc4 = nn.Linear(cfg.hidden, cfg.pixels)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:   # x: (B, 1, 28, 28)
        h = torch.relu(self.fc1(x.flatten(1)))               # (B, 400)
        return self.fc_mu(h), self.fc_logvar(h)              # (B, 20), (B, 20)

    def decode(self, z: Tensor) -> Tensor:                   # z: (B, 20)
        h = torch.relu(self.fc3(z))                          # (B, 400)
        return self.fc4(h).view(-1, 1, 28, 28)               # (B, 1, 28, 28) logits


class ConvVAE(_Variational):
    """Keras's conv VAE: two stride-2 convs and a dense layer down to (μ, log σ²); the mirror image up."""

    def __init__(self, cfg: ConvVAEConfig = ConvVAEConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        c1, c2 = cfg.channels
        self.encoder = nn.Sequential(
            nn.Conv2d(cfg.in_channels, c1, 3, stride=2, padding=1), nn.ReLU(),   # (B, 32, 14, 14)
            nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU(),                # (B, 64, 7, 7)
            nn.Flatten(), nn.Linear(c2 * 7 * 7, cfg.hidden), nn.ReLU(),          # (B, 16)
        )
        self.fc_mu = nn.Linear(cfg.hidden, cfg.latent)
        self.fc_logvar = nn.Linear(cfg.hidden, cfg.latent)
        self.decoder = nn.Sequential(
            nn.Linear(cfg.latent, c2 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (c2, 7, 7)),          # (B, 64, 7, 7)
            nn.ConvTranspose2d(c2, c2, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),    # (B, 64, 14, 14)
            nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),    # (B, 32, 28, 28)
            nn.ConvTranspose2d(c1, cfg.in_channels, 3, padding=1),                              # (B, 1, 28, 28) logits
        )

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.encoder(x)                                  # (B, 16)
        return self.fc_mu(h), self.fc_logvar(h)              # (B, 2), (B, 2)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)


@register_model("vae", input_shape=(1, 28, 28), num_params=652_824, task="vae",
                description="PyTorch's MLP VAE 784-400-20; forward(x) -> (logits, mu, logvar)")
def vae(**overrides: Any) -> VAE:
    return VAE(VAEConfig(**overrides))


@register_model("conv-vae", input_shape=(1, 28, 28), num_params=134_165, task="vae",
                description="Keras's conv VAE with a 2-number code; forward(x) -> (logits, mu, logvar)")
def conv_vae(**overrides: Any) -> ConvVAE:
    return ConvVAE(ConvVAEConfig(**overrides))
