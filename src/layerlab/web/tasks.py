"""Try it for every task, not only classifiers: the run's own `layerlab predict` predictor, served.

A segmentation run returns its mask and overlay, an autoencoder or VAE its reconstruction, a GAN
how real its discriminator finds the upload, an OCR run the text it reads, a detector its boxes;
a VAE or GAN draws new samples; a language model continues a prompt and a translator translates
it. The predictors write their pictures next to the file they read, so each request works in a
private temporary folder that is deleted afterwards: what goes back to the browser is the
predictor's numbers and texts, every PNG it wrote as a data: URL, and no server path.
"""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path
from typing import Any

import layerlab.tasks  # noqa: F401  (registers the predictors of segmentation, generative, GAN, OCR, ...)
from layerlab.engine.predictors import PredictOptions, get_predictor
from layerlab.errors import LayerlabError

MAX_SAMPLES = 64
MAX_PROMPT = 2_000      # characters
MAX_LENGTH = 1_000      # characters a language model may write for one request


class NotThisTask(LayerlabError):
    """The run's task cannot do what was asked (no samples from a classifier, no prompt for a U-Net): 409."""

    status = 409


def abilities(task: str) -> dict[str, bool]:
    """What Try it offers for a run of `task`: an image upload, a text prompt, drawing samples."""
    try:
        entry = get_predictor(task)
    except LayerlabError:
        return {"image": False, "text": False, "samples": False}
    text = entry.meta["from_text"] is not None
    return {"image": not text and task != "regression", "text": text, "samples": entry.meta["sample"] is not None}


def predict_upload(model: Any, card: Any, data: bytes) -> list[dict[str, Any]]:
    """The run's predictor on the uploaded image, in a private folder; PNGs it wrote come back inline."""
    if not abilities(card.task)["image"]:
        raise NotThisTask(f"this run's task is {card.task!r}: it does not read an image (use its prompt or samples)")
    with tempfile.TemporaryDirectory(prefix="layerlab-try-") as folder:
        path = Path(folder) / "upload.png"
        path.write_bytes(data)
        return [_inline(result, Path(folder)) for result in get_predictor(card.task).obj(model, card, path, PredictOptions())]


def draw_samples(model: Any, card: Any, count: int, seed: int) -> list[dict[str, Any]]:
    sample = get_predictor(card.task).meta["sample"] if abilities(card.task)["samples"] else None
    if sample is None:
        raise NotThisTask(f"this run's task is {card.task!r}: only a VAE or a GAN draws new images")
    if not 1 <= count <= MAX_SAMPLES:
        raise LayerlabError(f"samples must be between 1 and {MAX_SAMPLES}, got {count}")
    with tempfile.TemporaryDirectory(prefix="layerlab-samples-") as folder:
        options = PredictOptions(samples=count, seed=seed, out=folder)
        return [_inline(result, Path(folder)) for result in sample(model, card, Path(folder), options)]


def continue_text(model: Any, card: Any, text: str, *, length: int, temperature: float | None,
                  seed: int | None) -> list[dict[str, Any]]:
    from_text = get_predictor(card.task).meta["from_text"] if abilities(card.task)["text"] else None
    if from_text is None:
        raise NotThisTask(f"this run's task is {card.task!r}: a prompt is for a language model or a translator")
    if not text.strip() or len(text) > MAX_PROMPT:
        raise LayerlabError(f"the prompt must have 1 to {MAX_PROMPT:,} characters, got {len(text):,}")
    if not 1 <= length <= MAX_LENGTH:
        raise LayerlabError(f"length must be between 1 and {MAX_LENGTH:,} characters, got {length}")
    options = PredictOptions(length=length, temperature=temperature, seed=seed)
    return [_inline(result, None) for result in from_text(model, card, text, options)]


def _inline(result: dict[str, Any], folder: Path | None) -> dict[str, Any]:
    """A predictor's result for the browser: PNG paths as data: URLs, other paths under `folder`
    dropped, the upload's own path named "the upload"."""
    out: dict[str, Any] = {}
    for key, value in result.items():
        if isinstance(value, str) and folder is not None and value.startswith(str(folder)):
            path = Path(value)
            if key == "file" and path.name == "upload.png":
                out[key] = "the upload"
            elif path.suffix == ".png" and path.is_file():
                out[key] = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
            continue        # a folder or another file: a server path the browser has no use for
        out[key] = value
    return out
