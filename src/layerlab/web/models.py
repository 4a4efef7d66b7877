"""Trained models for the explorer: loaded once per run, shared by every request, one forward at a time.

`ModelCache.get(run_id)` rebuilds a run's model from its folder (model.json + model.safetensors,
through `load_trained`: safetensors only) the first time, and again only when the weights file
changes (a running run saves new weights each epoch). Each model has a lock held around its
forward pass: the feature maps are recorded by forward hooks on the shared model, and two
requests running it at once would each record the other's maps.
"""

from __future__ import annotations

import base64
import io
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from layerlab.engine.card import ModelCard
from layerlab.engine.deploy import image_input, load_trained
from layerlab.errors import LayerlabError
from layerlab.inspect import capture, summary
from layerlab.inspect.receptive import explain_pixel
from layerlab.web import tasks
from layerlab.web.runs import RunIndex
from layerlab.web.uploads import MAX_UPLOAD_PIXELS, check_image

MAPS_PER_LAYER = 16   # channels shown per conv layer (LeNet's conv2 has 16; VGG's 64-512 would flood the page)
TOP_BARS = 10         # softmax bars shown (all of them for 10 classes; the 10 largest of ImageNet's 1,000)


class CannotTry(LayerlabError):
    """The run's model cannot be tried with an image (another task, or no saved model): 409."""

    status = 409


@dataclass
class Loaded:
    model: nn.Module
    card: ModelCard
    weights_mtime: int
    summary: dict[str, Any] | None
    lock: threading.Lock = field(default_factory=threading.Lock)


class ModelCache:
    """Each run's model, loaded on first use; `loads` counts the loads (a test checks it stays 1)."""

    def __init__(self, index: RunIndex) -> None:
        self.index = index
        self.loads = 0
        self._loaded: dict[str, Loaded] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, run_id: str) -> Loaded:
        path = self.index.path(run_id)
        weights = path / "model.safetensors"
        if not (path / "model.json").is_file() or not weights.is_file():
            raise CannotTry("this run has no saved model (model.json and model.safetensors) to try")
        with self._guard:
            lock = self._locks.setdefault(run_id, threading.Lock())
        with lock:   # concurrent first requests: one loads, the others wait and reuse it
            mtime = weights.stat().st_mtime_ns
            cached = self._loaded.get(run_id)
            if cached is None or cached.weights_mtime != mtime:
                model, card = load_trained(path)
                self.loads += 1
                cached = Loaded(model, card, mtime, _summary(model, card))
                self._loaded[run_id] = cached
            return cached

    def info(self, run_id: str) -> dict[str, Any]:
        """The model part of a run page: task, classes, input shape, per-layer summary, whether it can be tried."""
        loaded = self.get(run_id)
        card = loaded.card
        return {"model": card.model, "task": card.task, "input_shape": list(card.input_shape),
                "classes": list(card.classes), "summary": loaded.summary, "can_try": _can_try(card) is None,
                "abilities": tasks.abilities(card.task)}

    def try_image(self, run_id: str, data: bytes, *, max_pixels: int = MAX_UPLOAD_PIXELS) -> dict[str, Any]:
        """An uploaded image through the run's classifier: prediction, softmax bars, every conv layer's maps."""
        width, height = check_image(data, max_pixels=max_pixels)
        loaded = self.get(run_id)
        card, model = loaded.card, loaded.model
        reason = _can_try(card)
        if reason and tasks.abilities(card.task)["image"]:   # another task: its own predictor
            with loaded.lock:
                return {"task": card.task, "uploaded_size": [width, height],
                        "results": tasks.predict_upload(model, card, data)}
        if reason:
            raise CannotTry(reason)
        pixels, inputs, notes = image_input(card, io.BytesIO(data), name="the upload", max_pixels=max_pixels)
        convs = [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
        with loaded.lock, torch.no_grad(), capture(model, *convs) as records:
            logits = model(inputs).float()[0]                       # (classes,)
        probs = torch.softmax(logits, dim=0)
        classes = card.classes or tuple(str(i) for i in range(len(probs)))
        order = probs.argsort(descending=True)
        bars = [{"class": classes[i], "probability": round(float(probs[i]), 4), "logit": round(float(logits[i]), 4)}
                for i in order[:TOP_BARS].tolist()]
        return {"task": card.task, "class": bars[0]["class"], "probability": bars[0]["probability"], "bars": bars,
                "num_classes": len(probs), "notes": notes, "uploaded_size": [width, height],
                "input": {"shape": list(pixels.shape), "png": _png(pixels.float() / 255, stretch=False)},
                "feature_maps": [_layer_maps(name, records[name][0]) for name in convs if name in records]}


    def pixel(self, run_id: str, data: bytes, layer: str, channel: int, y: int, x: int, *,
              max_pixels: int = MAX_UPLOAD_PIXELS) -> dict[str, Any]:
        """One feature-map number of the upload explained: its dot product and its receptive field."""
        check_image(data, max_pixels=max_pixels)
        loaded = self.get(run_id)
        reason = _can_try(loaded.card)
        if reason:
            raise CannotTry(reason)
        _, inputs, _ = image_input(loaded.card, io.BytesIO(data), name="the upload", max_pixels=max_pixels)
        with loaded.lock:   # hooks on the shared model: one request at a time
            return explain_pixel(loaded.model, inputs, layer, channel, y, x)


    def samples(self, run_id: str, count: int, seed: int) -> dict[str, Any]:
        """New images from a VAE's or a GAN's prior, seeded."""
        loaded = self.get(run_id)
        with loaded.lock:
            return {"task": loaded.card.task, "results": tasks.draw_samples(loaded.model, loaded.card, count, seed)}

    def text(self, run_id: str, prompt: str, *, length: int, temperature: float | None, seed: int | None) -> dict[str, Any]:
        """A language model continues `prompt`; a translator translates it."""
        loaded = self.get(run_id)
        with loaded.lock:
            return {"task": loaded.card.task, "results": tasks.continue_text(
                loaded.model, loaded.card, prompt, length=length, temperature=temperature, seed=seed)}


def _can_try(card: ModelCard) -> str | None:
    """None if an uploaded image can be classified by this model, else why not (one line)."""
    if card.task != "classification" or len(card.input_shape) != 3:
        return (f"Try it classifies images; this run's task is {card.task!r} with inputs shaped "
                f"{tuple(card.input_shape)}: use `layerlab predict RUN_DIR FILE` for it")
    return None


def _summary(model: nn.Module, card: ModelCard) -> dict[str, Any] | None:
    """summary(model) for the card's input shape; None for a model a zero input cannot run (token ids,
    several inputs): the page shows summary.txt instead."""
    if not card.input_shape:
        return None
    try:
        return summary(model, tuple(card.input_shape)).to_dict()
    except (RuntimeError, ValueError, IndexError, TypeError):
        return None


def _layer_maps(name: str, maps: Tensor) -> dict[str, Any]:
    """One conv layer's output (C, H, W): its shape and the first MAPS_PER_LAYER channels as PNGs."""
    shown = maps[:MAPS_PER_LAYER]
    return {"layer": name, "shape": list(maps.shape), "shown": len(shown),
            "maps": [_png(channel[None]) for channel in shown.float()]}


def _png(image: Tensor, *, stretch: bool = True) -> str:
    """(C, H, W) numbers as a data: URL of a PNG: stretched from their min..max to black..white, or
    (stretch=False) already in 0..1."""
    x = image.detach().cpu().float()
    x = (x - x.min()) / (x.max() - x.min()).clamp_min(1e-12) if stretch else x.clamp(0, 1)
    array = (x * 255).round().to(torch.uint8).numpy()
    array = array[0] if array.shape[0] == 1 else np.transpose(array, (1, 2, 0))   # (H, W) or (H, W, 3)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
