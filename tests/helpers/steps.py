"""A tiny GAN-shaped step (two models, two optimizers) for engine tests, and a script entry point
that trains it in a run folder (the kill -9 resume test runs it in a subprocess)."""

from __future__ import annotations

import sys
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerlab.data import TensorData
from layerlab.engine import RunDir, fit
from layerlab.engine.metrics import MeanLoss, Metrics
from layerlab.engine.step import Step


class TinyGan(Step):
    """Generator 2 -> 2, discriminator 2 -> 1; each its own Adam. Noise comes from torch's global RNG,
    so a resume is exact only if the checkpoint restores that RNG too."""

    loss_keys = ("d_loss", "g_loss")

    def __init__(self, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.generator, self.discriminator = nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
        self.models = {"generator": self.generator, "discriminator": self.discriminator}
        self.optimizers = {"generator": torch.optim.Adam(self.generator.parameters(), lr=1e-2),
                           "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=1e-2)}

    def _losses(self, real: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        fake = self.generator(torch.randn(len(real), 2))
        ones, zeros = torch.ones(len(real), 1), torch.zeros(len(real), 1)
        d_loss = F.binary_cross_entropy_with_logits(self.discriminator(real), ones) + \
            F.binary_cross_entropy_with_logits(self.discriminator(fake.detach()), zeros)
        return fake, d_loss, ones

    def train(self, batch: tuple[Tensor, Tensor]) -> dict[str, Any]:
        real, _ = batch
        fake, d_loss, ones = self._losses(real)
        self.optimizers["discriminator"].zero_grad()
        d_loss.backward()
        self.optimizers["discriminator"].step()
        g_loss = F.binary_cross_entropy_with_logits(self.discriminator(fake), ones)
        self.optimizers["generator"].zero_grad()
        g_loss.backward()
        self.optimizers["generator"].step()
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "count": len(real)}

    def evaluate(self, batch: tuple[Tensor, Tensor]) -> dict[str, Any]:
        real, _ = batch
        fake, d_loss, ones = self._losses(real)
        g_loss = F.binary_cross_entropy_with_logits(self.discriminator(fake), ones)
        return {"d_loss": d_loss, "g_loss": g_loss, "count": len(real)}

    def metrics(self) -> Metrics:
        return Metrics({"d_loss": MeanLoss("d_loss"), "g_loss": MeanLoss("g_loss")})


def ring(n: int = 256) -> TensorData:
    """Points on a circle of radius 2: the 'real' data the generator learns to imitate."""
    angle = torch.linspace(0, 6.2832, n)
    return TensorData(torch.stack([2 * angle.cos(), 2 * angle.sin()], dim=1), torch.zeros(n))


def train_in(folder: str, epochs: int, pause: float) -> TinyGan:
    """Train (or resume) the tiny GAN in run folder `folder`; `pause` seconds after each epoch."""
    from pathlib import Path

    path = Path(folder)
    run = RunDir.open(path) if (path / "config.json").exists() else RunDir(path)
    if not (path / "config.json").exists():
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text("{}")
    step = TinyGan()
    fit(step, ring(), val=ring(64), epochs=epochs, batch_size=16, schedule="cosine", device="cpu", progress=False,
        run=run, seed=7, log=lambda row: time.sleep(pause))
    return step


if __name__ == "__main__":      # python -m tests.helpers.steps FOLDER EPOCHS PAUSE
    train_in(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
