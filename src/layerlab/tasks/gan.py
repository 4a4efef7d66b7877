"""A GAN's training step: two networks, two optimizers, two losses, one after the other.

Course unit: GAN. The discriminator D learns to call real images real (label 1) and generated ones
fake (label 0); then the generator G learns to make D call its images real. Each is its own
network with its own Adam (2e-4, beta1 = 0.5, the DCGAN paper's), and `GanStep.train` draws the
two updates in order, exactly as the course's diagram does:

    1. D step:  real -> D -> 1,  G(z) -> D -> 0     (G's images are detached: only D moves)
    2. G step:  G(z) -> D (just updated) -> 1        (only G's optimizer steps)

The G loss is the "non-saturating" one of the GAN paper: maximise log D(G(z)) instead of
minimising log(1 - D(G(z))), whose gradient vanishes while D still wins easily (early on).

The noise z travels in the batch: `real_and_noise` is the loader's batch transform, and the
loader's generator is a function of (seed, epoch). So no draw comes from torch's global random
state, and a run resumed after a kill draws exactly the noise the uninterrupted run drew.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import io
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim.swa_utils import update_bn

from layerlab.data.imagefile import load_image
from layerlab.data.transforms import float_normalize
from layerlab.engine.card import ModelCard
from layerlab.engine.deploy import register_predictor
from layerlab.engine.metrics import MeanLoss, Metrics
from layerlab.engine.optim import fast_kernel
from layerlab.engine.predictors import PredictOptions
from layerlab.engine.step import Step, autocast
from layerlab.errors import LayerlabError
from layerlab.files import atomic_write_bytes


def real_and_noise(latent: int, *, channels_last: bool = False) -> Callable[[Tensor, Tensor, torch.Generator], tuple[Tensor, Tensor]]:
    """A batch transform: uint8 images -> (real pixels in [-1, 1], noise z (B, latent) ~ N(0, 1)).

    The class labels are dropped: a GAN learns from images alone. z is drawn from the loader's
    generator, so it is the same in a resumed run.
    """

    def transform(images: Tensor, labels: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        real = images.float() / 127.5 - 1.0                            # 0..255 -> -1..1, the range of tanh
        if channels_last:
            real = real.contiguous(memory_format=torch.channels_last)  # faster convolutions on a CPU
        z = torch.randn(len(images), latent, generator=generator)     # (B, latent)
        return real, z.to(real.device)

    return transform


class MeanProbability(MeanLoss):
    """The mean of a per-batch probability (D(x), D(G(z))) over every image of the pass.

    Neither direction is better for the game as a whole (D(x) near 1 and D(G(z)) near 0 means D
    is winning), so nothing should early-stop on it; `higher_is_better` is only what D wants.
    """

    def __init__(self, key: str, *, higher_is_better: bool) -> None:
        super().__init__(key)
        self.higher_is_better = higher_is_better


class GanStep(Step):
    """The GAN game on batches of (real images, noise): D's update, then G's.

    Reports per batch: `d_loss` (BCE of D on real + on fake), `g_loss` (BCE of D(G(z)) against
    "real"), `d_real` = mean D(x) and `d_fake` = mean D(G(z)) (before D's update, as D saw them).
    `amp`: both networks' forwards in bf16 autocast (the losses in float32), as the other steps do.
    `real_label`: D's target for real images (0.9: one-sided label smoothing, Salimans et al. 2016);
    G's target stays 1.
    `r1`: the weight γ of the R1 penalty (Mescheder et al. 2018), added to D's loss: γ/2 times the mean
    over real images of ‖∂D(x)/∂x‖², the squared length of D's logit's gradient with respect to the
    pixels. D may still tell real from fake, but not by a cliff: a flat D near the real images keeps
    the game from swinging, and G's gradients from D stay informative. It costs one more backward
    through D (the gradient of a gradient), so it is paid every `r1_every`-th step with γ·r1_every
    ("lazy", Karras et al. 2020); which steps is read from D's optimizer's step count, which a
    checkpoint keeps, so a resumed run penalises the same steps.
    `average`: a network shaped like G (models/gan.py's `DCGAN.average`) that becomes an exponential
    moving average of G's weights: after G's n-th step, average <- d·average + (1 - d)·G with
    d = min(`ema`, (1 + n) / (10 + n)), so the first steps' weights are soon forgotten (the ramp of
    TensorFlow's ExponentialMovingAverage). Its batch-norm statistics are not averaged: `end_epoch`
    measures them afresh on the average itself, from the same 10,000 draws of z every epoch: N(0, I) of the
    average's latent length, or `noise(n, generator)` -> (n, latent) when the game draws its z otherwise
    (benchmarks/gan_recipes.py's mixture prior).
    """

    loss_keys = ("d_loss", "g_loss")

    def __init__(self, generator: nn.Module, discriminator: nn.Module, *, lr: float = 2e-4,
                 betas: tuple[float, float] = (0.5, 0.999), amp: bool = False, real_label: float = 1.0,
                 r1: float = 0.0, r1_every: int = 4, average: nn.Module | None = None, ema: float = 0.995,
                 noise: Callable[[int, torch.Generator], Tensor] | None = None) -> None:
        if r1 < 0 or r1_every < 1:
            raise LayerlabError(f"the R1 penalty needs a weight >= 0 and a period >= 1 step; got r1={r1}, r1_every={r1_every}")
        if not all(0.0 <= beta < 1.0 for beta in betas):
            raise LayerlabError(f"Adam's betas (beta1, beta2) must each be in [0, 1), got {tuple(betas)}")
        betas = (float(betas[0]), float(betas[1]))               # (0, 0.99): torch's Adam wants both floats
        if average is not None and not 0.0 <= ema < 1.0:
            raise LayerlabError(f"the moving average of G's weights needs a decay in [0, 1), got ema={ema}")
        self.generator, self.discriminator, self.amp, self.real_label = generator, discriminator, amp, real_label
        self.r1, self.r1_every, self.average, self.ema, self.noise = r1, r1_every, average, ema, noise
        self.models = {"generator": generator, "discriminator": discriminator}
        if average is not None:
            average.load_state_dict(generator.state_dict())   # it starts where G starts (a checkpoint may overwrite both)
            self.models["average"] = average
        self.optimizers = {name: torch.optim.Adam(params, lr=lr, betas=betas, **fast_kernel(params))   # torch's fused kernel
                           for name, params in (("discriminator", list(discriminator.parameters())),
                                                ("generator", list(generator.parameters())))}

    def _fake(self, z: Tensor) -> Tensor:
        with autocast(z.device, self.amp):
            return self.generator(z)                      # (B, C, 28, 28)

    def _realness(self, *batches: Tensor) -> list[Tensor]:
        """D's logits (B,) of "real" for each batch, in float32 (the forwards in bf16 when amp is on). One
        autocast region for all: its bf16 copy of D's weights is shared, as in one forward of both."""
        with autocast(batches[0].device, self.amp):
            return [self.discriminator(images).float() for images in batches]

    def _d_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """BCE of D: real images towards `real_label` (1), generated ones towards 0."""
        return F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, self.real_label)) + \
            F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))

    def train(self, batch: tuple[Tensor, Tensor]) -> dict[str, Any]:
        real, z = batch                                   # real: (B, C, 28, 28) in [-1, 1]; z: (B, latent)
        fake = self._fake(z)
        penalise = self._r1_due()
        if penalise:                                      # D's gradient with respect to the real pixels is wanted
            real = real.detach().requires_grad_(True)

        # 1. Discriminator step: real -> 1, fake -> 0. fake.detach(): this loss does not reach G.
        real_logits, fake_logits = self._realness(real, fake.detach())   # (B,) each
        d_loss = self._d_loss(real_logits, fake_logits)
        total = (d_loss + self.r1 * self.r1_every * r1_penalty(real_logits, real)) if penalise else d_loss
        self.optimizers["discriminator"].zero_grad(set_to_none=True)
        total.backward()
        self.optimizers["discriminator"].step()           # D moves; G has not changed yet

        # 2. Generator step: G wants the updated D to say "real" (1) for its images.
        self.discriminator.requires_grad_(False)          # backward goes through D to G, but wants no D gradients:
        try:                                              # skipping them saves ~7% of a step (README, the average)
            (g_logits,) = self._realness(fake)            # (B,) through the new D, back into G
            g_loss = F.binary_cross_entropy_with_logits(g_logits, torch.ones_like(g_logits))
            self.optimizers["generator"].zero_grad(set_to_none=True)
            g_loss.backward()
        finally:
            self.discriminator.requires_grad_(True)
        self.optimizers["generator"].step()               # only G moves
        if self.average is not None:
            self.follow_generator(self.average, self.ema)

        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "count": len(real),
                "d_real": torch.sigmoid(real_logits.detach()).mean(),    # D(x)
                "d_fake": torch.sigmoid(fake_logits.detach()).mean()}    # D(G(z))

    @torch.no_grad()
    def follow_generator(self, average: nn.Module, ema: float) -> None:
        """Move `average` a step towards G's new weights (d·average + (1 - d)·G, d ramping up to `ema`)."""
        steps = self._steps("generator")
        decay = min(ema, (1 + steps) / (10 + steps))
        torch._foreach_lerp_(list(average.parameters()), list(self.generator.parameters()), 1 - decay)

    def end_epoch(self) -> None:
        if self.average is not None:
            self.measure_statistics(self.average)

    def measure_statistics(self, average: nn.Module) -> None:
        """An average's batch-norm statistics, measured on itself: G's running statistics belong to G's
        weights, not to their average. The same seeded 10,000 z every epoch, so a resumed run agrees."""
        draws = torch.Generator().manual_seed(0)
        device = next(average.parameters()).device
        noise = self.noise or (lambda n, generator: torch.randn(n, average.cfg.latent, generator=generator))
        update_bn([noise(500, draws).to(device) for _ in range(20)], average)  # torch's SWA helper

    def _steps(self, name: str) -> int:
        """How many steps the named optimizer has taken (its Adam state, which a checkpoint keeps)."""
        state = self.optimizers[name].state
        first = next(iter(self.models[name].parameters()))
        return int(state[first]["step"]) if first in state else 0

    def _r1_due(self) -> bool:
        """Whether this step pays the R1 penalty: every `r1_every`-th step of D's optimizer, the first included."""
        return bool(self.r1) and self._steps("discriminator") % self.r1_every == 0

    def evaluate(self, batch: tuple[Tensor, Tensor]) -> dict[str, Any]:
        real, z = batch
        real_logits, fake_logits = self._realness(real, self._fake(z))
        return {"d_loss": self._d_loss(real_logits, fake_logits), "count": len(real),
                "g_loss": F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits)),
                "d_real": torch.sigmoid(real_logits).mean(), "d_fake": torch.sigmoid(fake_logits).mean()}

    def metrics(self) -> Metrics:
        return Metrics({"d_loss": MeanLoss("d_loss"), "g_loss": MeanLoss("g_loss"),
                        "d_real": MeanProbability("d_real", higher_is_better=True),
                        "d_fake": MeanProbability("d_fake", higher_is_better=False)})


def r1_penalty(real_logits: Tensor, real: Tensor) -> Tensor:
    """½·mean over the batch of ‖∂D(x)/∂x‖²: `real_logits` (B,) computed from `real` (B, C, H, W), which
    requires grad. The gradient is kept in the graph (create_graph), so the penalty's own gradient
    reaches D's weights: backward goes through D twice."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)   # (B, C, H, W); sum: one image each
    return grad.float().pow(2).flatten(1).sum(dim=1).mean() / 2


@torch.no_grad()
def generate(generator: nn.Module, z: Tensor, batch_size: int = 500) -> Tensor:
    """Images for noise z (N, latent), in eval mode (batch norm uses its running statistics), as
    floats in [0, 1] on the CPU: (N, C, 28, 28). The generator's mode is restored after."""
    was_training = generator.training
    generator.eval()
    device = next(generator.parameters()).device
    try:
        parts = [generator(chunk.to(device)).float().cpu() for chunk in z.split(batch_size)]
    finally:
        generator.train(was_training)
    return (torch.cat(parts) + 1) / 2                     # tanh's [-1, 1] -> [0, 1]


def tile(images: Tensor, columns: int = 8, border: int = 2) -> np.ndarray:
    """Images (N, 1, H, W) in [0, 1] as one uint8 array (rows·(H+border), columns·(W+border)) on grey."""
    n, _, h, w = images.shape
    rows = max(1, math.ceil(n / columns))
    canvas = np.full((rows * (h + border) + border, columns * (w + border) + border), 128, dtype=np.uint8)
    pixels = (images[:, 0].clamp(0, 1) * 255).round().byte().numpy()
    for i in range(n):
        top, left = border + (i // columns) * (h + border), border + (i % columns) * (w + border)
        canvas[top : top + h, left : left + w] = pixels[i]
    return canvas


def save_grid(images: Tensor, path: Path, *, columns: int = 8, border: int = 2, scale: int = 2) -> Path:
    """Write images (N, 1, H, W) in [0, 1] as one PNG grid, each pixel `scale` x `scale` (atomically)."""
    from PIL import Image

    picture = Image.fromarray(tile(images, columns, border))
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


# ---------------------------------------------------------------------------------------------
# `layerlab predict` on a GAN run: how real an image looks to D, or --samples N new images from G
# ---------------------------------------------------------------------------------------------

def describe_gan(result: dict[str, Any]) -> str:
    if "grid" in result:
        return f"{result['samples']} samples (seed {result['seed']}) in {result['folder']}   grid: {result['grid']}"
    return f"{result['file']}: D(x) = {result['d_real']:.3f} (the discriminator's probability that it is a real image)"


def sample_images(model: nn.Module, card: ModelCard, folder: Path, options: PredictOptions) -> list[dict[str, Any]]:
    """Draw `options.samples` images from the generator (its moving average, if the run kept one) with noise
    seeded `options.seed` (default 0):
    folder/0000.png, ... and folder/grid.png of the first 64."""
    seed = options.seed or 0
    z = torch.randn(options.samples, card.input_shape[0], generator=torch.Generator().manual_seed(seed))
    images = generate(model.sampler, z)              # the average of G's weights if the run kept one: (N, C, 28, 28)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(len(images)):
        save_grid(images[i : i + 1], folder / f"{i:04d}.png", columns=1, border=0, scale=1)
    grid = save_grid(images[:64], folder / "grid.png")
    return [{"samples": options.samples, "seed": seed, "folder": str(folder), "grid": str(grid)}]


@register_predictor("gan", describe=describe_gan, sample=sample_images)
def predict_realness(model: nn.Module, card: ModelCard, path: Path, options: PredictOptions) -> list[dict[str, Any]]:
    """D(x) for an image file: how real the trained discriminator thinks it looks."""
    cfg = model.cfg                                             # the card's input_shape is the noise's (latent,)
    image, notes = load_image(Path(path), cfg.channels, (cfg.image_size, cfg.image_size),
                              dark_background=card.dataset in ("mnist", "fashion-mnist"))
    inputs, _ = float_normalize(card.mean, card.std)(image.unsqueeze(0), torch.zeros(1), torch.Generator())  # to [-1, 1]
    model.discriminator.eval()
    with torch.no_grad():
        probability = torch.sigmoid(model.discriminator(inputs.float()))[0]
    return [{"file": str(path), "d_real": round(float(probability), 4), "notes": notes}]
