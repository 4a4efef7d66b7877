"""Rebuild a trained model from its run folder, evaluate it, and predict on new files."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from layerlab.data import get_dataset
from layerlab.data.imagefile import load_image
from layerlab.data.tensors import select_classes
from layerlab.data.transforms import float_normalize
from layerlab.engine.card import ModelCard
from layerlab.engine.checkpoint import load_weights
from layerlab.engine.loop import evaluate, predict
from layerlab.engine.run import RunDir
from layerlab.errors import LayerlabError
from layerlab.models import get_model


def load_trained(run_dir: str | Path) -> tuple[nn.Module, ModelCard]:
    run = RunDir.open(run_dir)
    card = ModelCard.load(run.path / "model.json")
    model = get_model(card.model, **card.overrides)
    load_weights(model, run.weights_path())
    return model.eval(), card


def evaluate_run(run_dir: str | Path) -> dict[str, Any]:
    """Test-split metrics of a saved model, computed afresh from its files."""
    model, card = load_trained(run_dir)
    if not card.dataset:
        raise LayerlabError(f"{run_dir} was tested inside its lab (see its report.md and result.json); "
                            "`layerlab eval` cannot rebuild that test set, but `layerlab predict` works")
    test = get_dataset(card.dataset, split=card.test_split, root=card.data_dir)
    transform = float_normalize(card.mean, card.std)
    if card.task == "classification" and test.classes and card.classes and tuple(card.classes) != tuple(test.classes):
        test = select_classes(test, card.classes)   # a model of some of the classes (transfer learning)
    if card.task == "classification":
        return evaluate(model, test, loss=card.loss, transform=transform, prefix="test_")
    outputs, targets = predict(model, test, transform=transform)
    predicted = _unscale(card, outputs[:, :1])
    err = predicted - targets
    return {"test_rmse": err.pow(2).mean().sqrt().item(), "test_mae": err.abs().mean().item()}


def predict_files(run_dir: str | Path, files: list[str]) -> list[dict[str, Any]]:
    """Class and softmax probabilities for each image, or a prediction for each CSV row."""
    model, card = load_trained(run_dir)
    results = []
    for name in files:
        if card.task == "classification":
            results.append(_predict_image(model, card, Path(name)))
        else:
            results.extend(_predict_rows(model, card, Path(name)))
    return results


def image_input(card: ModelCard, path: Path) -> tuple[Tensor, Tensor, list[str]]:
    """One image file as the model's input: (uint8 pixels (C, H, W), normalised batch (1, C, H, W), notes)."""
    channels, height, width = card.input_shape
    image, notes = load_image(path, channels, (height, width), dark_background=card.dataset in ("mnist", "fashion-mnist", "digits"))
    inputs, _ = float_normalize(card.mean, card.std)(image.unsqueeze(0), torch.zeros(1), torch.Generator())
    return image, inputs, notes


def _predict_image(model: nn.Module, card: ModelCard, path: Path) -> dict[str, Any]:
    _, inputs, notes = image_input(card, path)
    with torch.no_grad():
        probs = torch.softmax(model(inputs).float(), dim=1)[0]
    top = probs.argsort(descending=True)[:5]
    classes = card.classes or tuple(str(i) for i in range(len(probs)))
    return {"file": str(path), "class": classes[int(top[0])], "probability": round(float(probs[top[0]]), 4),
            "top": [{"class": classes[int(i)], "probability": round(float(probs[i]), 4)} for i in top],
            "notes": notes}


def _predict_rows(model: nn.Module, card: ModelCard, path: Path) -> list[dict[str, Any]]:
    try:
        rows = list(csv.DictReader(path.open(newline="")))
    except OSError as exc:
        raise LayerlabError(f"cannot read {path}: {exc.strerror}") from None
    missing = [f for f in card.feature_names if rows and f not in rows[0]]
    if not rows or missing:
        raise LayerlabError(f"{path} needs a header row with the columns {', '.join(card.feature_names)}; missing {missing[:5]}")
    try:
        inputs = torch.tensor([[float(row[f]) for f in card.feature_names] for row in rows])
    except ValueError as exc:
        raise LayerlabError(f"{path}: every feature must be a number ({exc})") from None
    inputs, _ = float_normalize(card.mean, card.std)(inputs, torch.zeros(len(rows)), torch.Generator())
    with torch.no_grad():
        predicted = _unscale(card, model(inputs)[:, :1]).flatten()
    return [{"file": str(path), "row": i + 1, "prediction": round(float(p), 4)} for i, p in enumerate(predicted)]


def _unscale(card: ModelCard, outputs: Tensor) -> Tensor:
    if card.target_mean is None or card.target_std is None:
        return outputs
    return outputs * card.target_std + card.target_mean
