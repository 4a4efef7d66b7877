"""Autoencoders and VAEs: learning from images without labels (course unit: AutoEncoder).

Two steps. `Reconstruction` trains `model(x) ≈ x`: the input is its own target and the digit
labels are never read. Its denoising variant feeds the model a noisy copy, x + 0.4·N(0, 1)
clipped to [0, 1] (Keras's recipe), and still scores it against the clean x. `VariationalAutoEncoding`
trains a VAE on loss = BCE summed over an image's 784 pixels + KL(N(μ, σ²) ‖ N(0, I)), per image.

Loss conventions (the numbers in each run's report):
    autoencoder  bce = per-pixel mean binary cross-entropy (Keras's `binary_crossentropy`);
                 mse = per-pixel mean squared error on [0, 1] (any framework computes the same)
    VAE          loss = bce + kl, each summed over one image and averaged over images
                 (PyTorch's example: its "test set loss" is this number)
Every random draw (noise, ε) comes from the step's own `generators`, which checkpoints keep.

`layerlab predict RUN_DIR digit.png` reconstructs an image file with either kind of run;
`layerlab predict RUN_DIR --samples N --seed S` decodes N draws of z ~ N(0, I) from a VAE.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from layerlab.data import get_dataset
from layerlab.data.tensors import TensorData
from layerlab.data.transforms import to_float
from layerlab.engine.card import ModelCard
from layerlab.engine.deploy import image_input
from layerlab.engine.loop import evaluate
from layerlab.engine.metrics import MSE, MeanLoss, Metrics
from layerlab.engine.predictors import PredictOptions, register_predictor
from layerlab.engine.step import Step, autocast
from layerlab.errors import LayerlabError
from layerlab.files import atomic_write_bytes
from layerlab.models.vae import standard_normal


def add_noise(images: Tensor, factor: float, generator: torch.Generator) -> Tensor:
    """images + factor·N(0, 1), clipped to [0, 1]: the noisy copy a denoising autoencoder reads."""
    noise = torch.randn(images.shape, generator=generator, device=generator.device)   # drawn on the generator's device
    return (images + factor * noise.to(images)).clamp(0.0, 1.0)


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) of each row, summed over the latent numbers: (B, latent) -> (B,).

    Per number: ½·(μ² + σ² − 1 − log σ²), zero exactly when μ = 0 and σ = 1.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


class Reconstruction(Step):
    """Train `model(x) ≈ x` by per-pixel BCE; with `noise` > 0, `model(noisy x) ≈ x` (denoising).

    Batches are (images in [0, 1], labels); the labels are ignored. `lr=None` builds a step that
    only evaluates (no optimizer).
    """

    def __init__(self, model: nn.Module, *, lr: float | None = 1e-3, noise: float = 0.0, seed: int = 0,
                 amp: bool = False) -> None:
        self.model = self.forward_model = model           # forward_model: what training calls (DDP under torchrun)
        self.models = {"model": model}
        self.optimizers = {} if lr is None else {"optimizer": torch.optim.Adam(model.parameters(), lr=lr)}
        self.generators = {"noise": torch.Generator().manual_seed(seed)}
        self.noise, self.amp = noise, amp

    def corrupt(self, images: Tensor) -> Tensor:
        """What the model reads: a noisy copy for a denoising autoencoder, else the images themselves."""
        return add_noise(images, self.noise, self.generators["noise"]) if self.noise else images

    def _forward(self, images: Tensor, model: nn.Module) -> tuple[Tensor, Tensor]:
        inputs = self.corrupt(images)                      # (B, 1, 28, 28)
        with autocast(images.device, self.amp):
            logits = model(inputs).float()                 # (B, 1, 28, 28)
        loss = F.binary_cross_entropy_with_logits(logits, images)   # target: the clean image; mean per pixel
        return loss, logits

    def train(self, batch: tuple[Tensor, Tensor]) -> dict[str, Any]:
        images, _ = batch                                  # labels unused: the image is its own target
        loss, logits = self._forward(images, self.forward_model)
        optimizer = self.optimizers["optimizer"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss.detach(), "count": len(images), "outputs": torch.sigmoid(logits.detach()), "targets": images}

    def evaluate(self, batch: tuple[Tensor, Tensor]) -> dict[str, Any]:
        images, _ = batch
        loss, logits = self._forward(images, self.model)
        return {"loss": loss, "count": len(images), "outputs": torch.sigmoid(logits), "targets": images}

    def metrics(self) -> Metrics:
        return Metrics({"bce": MeanLoss(), "mse": MSE()})


class VariationalAutoEncoding(Step):
    """Train a VAE (`model(x, generator) -> (logits, μ, log σ²)`) on BCE summed per image + KL, per image."""

    def __init__(self, model: nn.Module, *, lr: float | None = 1e-3, seed: int = 0) -> None:
        self.model = self.forward_model = model           # forward_model: what training calls (DDP under torchrun)
        self.models = {"model": model}
        self.optimizers = {} if lr is None else {"optimizer": torch.optim.Adam(model.parameters(), lr=lr)}
        self.generators = {"epsilon": torch.Generator().manual_seed(seed)}

    def _losses(self, images: Tensor, model: nn.Module) -> dict[str, Any]:
        logits, mu, logvar = model(images, self.generators["epsilon"])   # z = μ + σ·ε inside
        per_image = F.binary_cross_entropy_with_logits(logits, images, reduction="none").flatten(1).sum(dim=1)   # (B,)
        bce, kl = per_image.mean(), kl_divergence(mu, logvar).mean()
        return {"loss": bce + kl, "bce": bce, "kl": kl, "count": len(images)}

    def train(self, batch: tuple[Tensor, Tensor]) -> dict[str, Any]:
        images, _ = batch
        values = self._losses(images, self.forward_model)
        optimizer = self.optimizers["optimizer"]
        optimizer.zero_grad(set_to_none=True)
        values["loss"].backward()
        optimizer.step()
        return {key: value.detach() if isinstance(value, Tensor) else value for key, value in values.items()}

    def evaluate(self, batch: tuple[Tensor, Tensor]) -> dict[str, Any]:
        images, _ = batch
        return self._losses(images, self.model)

    def metrics(self) -> Metrics:
        return Metrics({"loss": MeanLoss(), "bce": MeanLoss("bce"), "kl": MeanLoss("kl")})


def pixels(images: Tensor, labels: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """The batch transform of these labs: uint8 pixels to floats in [0, 1], nothing else (BCE needs [0, 1])."""
    return to_float(images), labels


@torch.no_grad()
def per_image_bce(step: Reconstruction, data: TensorData, batch_size: int = 1000) -> Tensor:
    """Each image's per-pixel mean BCE (N,), in order: the numbers behind the per-class figure."""
    step.model.eval()
    errors = []
    for start in range(0, len(data), batch_size):
        images = to_float(data.inputs[start : start + batch_size]).to(step.device)
        with autocast(images.device, step.amp):
            logits = step.model(step.corrupt(images)).float()
        errors.append(F.binary_cross_entropy_with_logits(logits, images, reduction="none").flatten(1).mean(dim=1).cpu())
    return torch.cat(errors)


def class_means(values: Tensor, labels: Tensor, classes: tuple[str, ...] | list[str]) -> dict[str, float]:
    """The mean of per-image values (N,) over each class's images: {class name: mean}."""
    return {name: float(values[labels == k].double().mean()) for k, name in enumerate(classes) if bool((labels == k).any())}


def mean_image_baseline(train: TensorData, test: TensorData) -> dict[str, float]:
    """Per-pixel BCE and MSE on the test images of always answering the training set's mean image:
    the floor that any reconstruction should be read against."""
    mean = to_float(train.inputs).mean(dim=0, keepdim=True)                  # (1, 1, 28, 28) in [0, 1]
    images = to_float(test.inputs)
    return {"bce": float(F.binary_cross_entropy(mean.expand_as(images), images)),
            "mse": float((mean - images).pow(2).mean())}


@torch.no_grad()
def encode_means(model: nn.Module, images: Tensor, batch_size: int = 1000) -> Tensor:
    """The code of each image (N, code): an autoencoder's `encode`, a VAE's μ (its likeliest code)."""
    model.eval()
    device = next(model.parameters()).device
    codes = []
    for start in range(0, len(images), batch_size):
        code = model.encode(to_float(images[start : start + batch_size]).to(device))
        codes.append((code[0] if isinstance(code, tuple) else code).flatten(1).float().cpu())
    return torch.cat(codes)


@torch.no_grad()
def decode_images(model: nn.Module, codes: Tensor) -> Tensor:
    """Decoded images in [0, 1] (N, 1, 28, 28) for codes (N, latent)."""
    model.eval()
    return torch.sigmoid(model.decode(codes.to(next(model.parameters()).device)).float()).cpu()


def prior_samples(model: nn.Module, n: int, seed: int) -> Tensor:
    """n images decoded from z ~ N(0, I) drawn with `seed`: what the VAE generates (N, 1, 28, 28)."""
    latent = model.cfg.latent
    return decode_images(model, standard_normal(torch.zeros(n, latent), torch.Generator().manual_seed(seed)))


def interpolate(model: nn.Module, a: Tensor, b: Tensor, steps: int = 10) -> Tensor:
    """Images decoded along the straight line between the codes (μ) of uint8 images a and b: (steps, 1, 28, 28)."""
    mu = encode_means(model, torch.stack([a, b]))                        # (2, latent)
    t = torch.linspace(0, 1, steps).unsqueeze(1)                         # (steps, 1)
    return decode_images(model, (1 - t) * mu[0] + t * mu[1])             # (steps, latent) -> images


def latent_grid(model: nn.Module, side: int = 15) -> tuple[Tensor, Tensor]:
    """A 2-number VAE's decoder over a side x side grid of z at the Gaussian quantiles 5%..95%:
    (the z values (side,), images (side·side, 1, 28, 28) row by row, top row = largest z₂)."""
    z = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, side))   # (side,)
    z2, z1 = torch.meshgrid(z.flip(0), z, indexing="ij")                                # rows: z₂ high -> low
    return z, decode_images(model, torch.stack([z1.flatten(), z2.flatten()], dim=1))


# --- predict and eval for these runs ---------------------------------------------------------

def _write_png(images: Tensor, path: Path) -> None:
    """An image in [0, 1] (1, H, W) as an 8-bit grey PNG, written atomically."""
    array = (images[0] * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="png")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buffer.getvalue())
    except OSError as exc:
        raise LayerlabError(f"cannot write {path}: {exc.strerror or exc}") from None


def _test_step(model: nn.Module, card: ModelCard) -> Step:
    if card.task == "vae":
        return VariationalAutoEncoding(model, lr=None, seed=card.extra.get("eval_seed", 0))
    return Reconstruction(model, lr=None, noise=card.extra.get("noise", 0.0), seed=card.extra.get("eval_seed", 0),
                          amp=card.extra.get("amp", False))


def evaluate_reconstructions(model: nn.Module, card: ModelCard) -> dict[str, float]:
    """The test split's losses from the saved weights, with the lab's seed for any noise or ε."""
    test = get_dataset(card.dataset, split=card.test_split, root=card.data_dir)
    return evaluate(_test_step(model, card), test, batch_size=1000, transform=pixels, prefix="test_")


def describe_reconstruction(result: dict[str, Any]) -> str:
    if "sample" in result:
        return f"sample {result['sample']}: {result['file']}"
    lines = [f"{result['file']}: reconstruction {result['reconstruction']}   per-pixel BCE {result['bce']:.4f}  "
             f"MSE {result['mse']:.4f}"]
    return "\n".join(lines + [f"  note: {n}" for n in result["notes"]])


def _reconstruction(path: Path, inputs: Tensor, logits: Tensor, notes: list[str]) -> dict[str, Any]:
    """Write <stem>_reconstruction.png next to the image (28x28, light strokes on black, as the model saw it)."""
    out_path = path.with_name(f"{path.stem}_reconstruction.png")
    _write_png(torch.sigmoid(logits)[0], out_path)
    return {"file": str(path), "reconstruction": str(out_path), "notes": notes,
            "bce": round(float(F.binary_cross_entropy_with_logits(logits, inputs)), 4),
            "mse": round(float((torch.sigmoid(logits) - inputs).pow(2).mean()), 4)}


def sample_files(model: nn.Module, card: ModelCard, folder: Path, options: PredictOptions) -> list[dict[str, Any]]:
    """Decode `options.samples` draws of z ~ N(0, I) (seeded) into folder/sample_000.png, ..."""
    seed = 0 if options.seed is None else options.seed
    images = prior_samples(model, options.samples, seed)
    results = []
    for i, image in enumerate(images):
        path = folder / f"sample_{i:03d}.png"
        _write_png(image, path)
        results.append({"sample": i, "file": str(path), "seed": seed})
    return results


@register_predictor("autoencoder", describe=describe_reconstruction, evaluate=evaluate_reconstructions)
def reconstruct_file(model: nn.Module, card: ModelCard, path: Path, options: PredictOptions) -> list[dict[str, Any]]:
    _, inputs, notes = image_input(card, path)                          # (1, 1, 28, 28) in [0, 1]
    with torch.no_grad():
        logits = model(inputs).float()
    return [_reconstruction(path, inputs, logits, notes)]


@register_predictor("vae", describe=describe_reconstruction, evaluate=evaluate_reconstructions, sample=sample_files)
def reconstruct_through_mean(model: nn.Module, card: ModelCard, path: Path, options: PredictOptions) -> list[dict[str, Any]]:
    """A VAE redraws an image from its likeliest code μ, not a random z: the same file gives the same picture."""
    _, inputs, notes = image_input(card, path)
    with torch.no_grad():
        mu, _ = model.encode(inputs)                                    # (1, latent)
        logits = model.decode(mu).float()
    return [_reconstruction(path, inputs, logits, notes)]
