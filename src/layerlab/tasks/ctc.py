"""Text recognition with CTC (course unit: CRNN): a step that trains it, and `layerlab predict` for it.

A batch is (images (B, 1, H, W), {"labels", "label_lengths", "widths"}) as layerlab.data.textlines
reads it. The model scores every column; the step tells the CTC loss how many columns each image
really has (its width through the net's poolings) and returns the best path of every column for
the metrics to decode (layerlab.engine.ctc): sequence accuracy, character accuracy, CER.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from layerlab.data import TensorData, get_dataset
from layerlab.data.imagefile import load_image, resized
from layerlab.data.transforms import float_normalize
from layerlab.engine.card import ModelCard
from layerlab.engine.ctc import beam_decode, beam_search, check_alignable, collapse, ctc_metric_objects, greedy_decode
from layerlab.engine.loop import evaluate
from layerlab.engine.losses import get_loss
from layerlab.engine.metrics import MeanLoss, Metrics
from layerlab.engine.optim import get_optimizer
from layerlab.engine.predictors import PredictOptions, register_predictor
from layerlab.engine.step import Step
from layerlab.errors import LayerlabError


class CTCStep(Step):
    """Train a recogniser `model(images, widths) -> (B, T, K)` (with `model.output_lengths(widths)`) by CTC."""

    def __init__(self, model: nn.Module, *, optimizer: str | None = "adam", lr: float = 1e-3, weight_decay: float = 0.0,
                 clip_grad_norm: float | None = None) -> None:
        self.model = model
        self.models = {"model": model}
        self.optimizers = {} if optimizer is None else {
            "optimizer": get_optimizer(optimizer, model, lr, weight_decay=weight_decay)}
        self.loss_fn = get_loss("ctc")
        self.clip_grad_norm = clip_grad_norm

    def _forward(self, batch: tuple[Tensor, dict[str, Tensor]]) -> tuple[Tensor, dict[str, Tensor], Tensor]:
        images, targets = batch
        logits = self.model(images, targets["widths"])                              # (B, T, K)
        targets = {**targets, "input_lengths": self.model.output_lengths(targets["widths"])}
        return logits, targets, self.loss_fn(logits, targets)                       # Data -> Model -> scores -> CTC

    @staticmethod
    def _values(loss: Tensor, logits: Tensor, targets: dict[str, Tensor]) -> dict[str, Any]:
        return {"loss": loss.detach(), "count": len(logits), "best_path": logits.detach().argmax(dim=-1),
                "input_lengths": targets["input_lengths"], "labels": targets["labels"],
                "label_lengths": targets["label_lengths"]}

    def train(self, batch: tuple[Tensor, dict[str, Tensor]]) -> dict[str, Any]:
        logits, targets, loss = self._forward(batch)
        optimizer = self.optimizers["optimizer"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()                                                             # CTC -> gradients
        if self.clip_grad_norm is not None:                                         # an LSTM's occasional huge gradient
            nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
        optimizer.step()
        return self._values(loss, logits, targets)

    def evaluate(self, batch: tuple[Tensor, dict[str, Tensor]]) -> dict[str, Any]:
        logits, targets, loss = self._forward(batch)
        return self._values(loss, logits, targets)

    def metrics(self) -> Metrics:
        return Metrics({"loss": MeanLoss(), **ctc_metric_objects()})


def check_data(model: nn.Module, data: TensorData, *, joined: bool = False) -> None:
    """Before training: every label must fit its image's columns, or CTC's loss is infinite (one-line error);
    with one column to spare when the lines will also be read joined in pairs (random_join)."""
    targets = data.targets
    check_alignable(targets["labels"], targets["label_lengths"], model.output_lengths(targets["widths"]),
                    data.meta["files"], data.classes, joined=joined)


@torch.no_grad()
def recognise(model: nn.Module, data: TensorData, mean: tuple[float, ...], std: tuple[float, ...], *, beam_width: int = 0,
              batch_size: int = 64) -> dict[str, Any]:
    """Every image of `data` read by the model: per-column log-probabilities (N, T, K), the greedy
    texts, the beam-search texts (`beam_width` > 0) and the true texts, as strings."""
    model.eval()
    device = next(model.parameters()).device
    normalize, chunks = float_normalize(mean, std), []
    for start in range(0, len(data), batch_size):
        images, targets = data[start : start + batch_size]
        inputs, _ = normalize(images.to(device), targets, torch.Generator())
        chunks.append(model(inputs, targets["widths"].to(device)).float().log_softmax(dim=-1).cpu())
    log_probs = torch.cat(chunks)                                                    # (N, T, K)
    lengths = model.output_lengths(data.targets["widths"])
    spell = lambda ids: "".join(data.classes[i] for i in ids)                        # noqa: E731
    truths = [spell(row[:n].tolist()) for row, n in zip(data.targets["labels"], data.targets["label_lengths"].tolist())]
    result = {"log_probs": log_probs, "lengths": lengths, "truths": truths,
              "greedy": [spell(ids) for ids in greedy_decode(log_probs, lengths)]}
    if beam_width:
        result["beam"] = [spell(ids) for ids in beam_decode(log_probs, lengths, beam_width)]
    return result


def text_card(*, overrides: dict[str, Any], input_shape: tuple[int, int, int], classes: tuple[str, ...], mean: tuple[float, ...], std: tuple[float, ...],
              dataset: str, dataset_options: dict[str, Any], data_dir: str | None, data_source: str | None) -> ModelCard:
    """The card of a trained recogniser: `layerlab eval` re-reads the validation split with `dataset_options`."""
    return ModelCard(model="crnn", overrides=dict(overrides), input_shape=input_shape, task="ctc",
                     loss="ctc", classes=classes, mean=mean, std=std, dataset=dataset, data_dir=data_dir,
                     data_source=data_source, test_split="val", extra={"dataset_options": dict(dataset_options)})


def evaluate_text_images(model: nn.Module, card: ModelCard) -> dict[str, float]:
    """The validation split's CTC loss, sequence and character accuracy and CER, from the saved weights."""
    val = get_dataset(card.dataset, split=card.test_split, root=card.data_dir, **card.extra["dataset_options"])
    if tuple(val.classes) != tuple(card.classes):
        raise LayerlabError(f"the {card.dataset} images found now have another vocabulary than this run's; pass the "
                            f"run's own data with --data-dir (it read {card.data_source or card.data_dir})")
    metrics = evaluate(CTCStep(model, optimizer=None), val, batch_size=64, transform=float_normalize(card.mean, card.std),
                       prefix="val_")
    return {"examples": len(val), **metrics}


def describe_reading(result: dict[str, Any]) -> str:
    lines = [f"{result['file']}: {result['text']!r} (probability {result['probability']:.4f})"]
    return "\n".join(lines + [f"  note: {n}" for n in result["notes"]])


@register_predictor("ctc", describe=describe_reading, evaluate=evaluate_text_images)
def read_text(model: nn.Module, card: ModelCard, path: Path, options: PredictOptions) -> list[dict[str, Any]]:
    """The text in an image by beam search (width 10), with its probability: the sum over every path that spells it."""
    height = card.input_shape[1]
    image, notes = load_image(path, 1, None)                   # a missing or unreadable file: one line; (1, H, W)
    width = max(1, round(image.shape[-1] * height / image.shape[-2]))                # the width scales with the height
    pixels = torch.from_numpy(resized(image[0].numpy(), (height, width)).copy())[None, None]   # (1, 1, height, width)
    inputs, _ = float_normalize(card.mean, card.std)(pixels, torch.zeros(1), torch.Generator())
    widths = torch.tensor([pixels.shape[-1]])
    with torch.no_grad():
        log_probs = model(inputs, widths).float().log_softmax(dim=-1)[0]              # (T, K)
    label, log_p = beam_search(log_probs, beam_width=10)
    greedy = collapse(log_probs.argmax(dim=-1).tolist())
    if label != greedy:
        notes.append(f"greedy decoding reads {''.join(card.classes[i] for i in greedy)!r}")
    if image.shape[-2] != height:
        notes.append(f"resized {image.shape[-1]}x{image.shape[-2]} to {pixels.shape[-1]}x{height} (the model reads {height} px high)")
    return [{"file": str(path), "text": "".join(card.classes[i] for i in label), "probability": round(math.exp(log_p), 4),
             "notes": notes}]

