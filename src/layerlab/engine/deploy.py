"""Rebuild a trained model from its run folder, evaluate it, and predict on new files.

What prediction and evaluation mean depends on the card's task; each task registers its own
(engine/predictors.py). The two first ones are here: "classification" (image files -> class and
probabilities) and "regression" (CSV rows -> a number in the data's units). The sequence tasks
live in engine/sequence_predictors.py, imported below so that they are registered.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from layerlab.data import get_dataset
from layerlab.data.imagefile import MAX_PIXELS, load_image
from layerlab.data.tensors import select_classes
from layerlab.data.transforms import float_normalize
from layerlab.engine import sequence_predictors  # noqa: F401  (registers "language-model" and "translation")
from layerlab.engine.card import ModelCard
from layerlab.engine.checkpoint import load_weights
from layerlab.engine.loop import evaluate, predict
from layerlab.engine.predictors import PREDICTORS, PredictOptions, get_predictor, register_predictor
from layerlab.engine.run import RunDir
from layerlab.errors import LayerlabError
from layerlab.models import get_model

__all__ = ["PREDICTORS", "PredictOptions", "describe_predictions", "evaluate_run", "image_input", "load_trained",
           "predict_files", "predict_prompt", "register_predictor"]


def load_trained(run_dir: str | Path) -> tuple[nn.Module, ModelCard]:
    run = RunDir.open(run_dir)
    card = ModelCard.load(run.path / "model.json")
    model = get_model(card.model, **card.overrides)
    load_weights(model, run.weights_path())
    return model.eval(), card


def evaluate_run(run_dir: str | Path) -> dict[str, Any]:
    """Test-split metrics of a saved model, computed afresh from its files; "examples" says how
    many it scored (sentences, rows, images; characters for a language model)."""
    model, card = load_trained(run_dir)
    score = get_predictor(card.task).meta["evaluate"]
    if score is None or not card.dataset or not card.test_split:
        judged = card.extra.get("judged_by", "tested inside its lab (see its report.md and result.json)")
        raise LayerlabError(f"{run_dir} was {judged}; `layerlab eval` has no unseen data to score it on, "
                            "but `layerlab predict` works")
    return score(model, card)


def predict_files(run_dir: str | Path, files: list[str], options: PredictOptions | None = None) -> list[dict[str, Any]]:
    """The trained model's predictions for each file, as its task reads files (images, CSV rows, text);
    then, with `options.samples`, that many new images drawn from a generative run."""
    options = options or PredictOptions()
    if not files and not options.samples:
        raise LayerlabError("predict needs files to read, or --samples N to draw new images from a generative run")
    model, card = load_trained(run_dir)
    entry = get_predictor(card.task)
    results = [result for name in files for result in entry.obj(model, card, Path(name), options)]
    if options.samples:
        if entry.meta["sample"] is None:
            raise LayerlabError(f"--samples draws new images from a generative run (a VAE or a GAN); this run's task "
                                f"is {card.task!r}: give it files to read instead")
        seed = 0 if options.seed is None else options.seed
        folder = Path(options.out) if options.out else RunDir.open(run_dir).path / "samples" / f"seed-{seed}"
        results += entry.meta["sample"](model, card, folder, options)
    return results


def predict_prompt(run_dir: str | Path, text: str, options: PredictOptions | None = None) -> list[dict[str, Any]]:
    """A language model continues `text`; a translator translates it (one sentence per line)."""
    model, card = load_trained(run_dir)
    from_text = get_predictor(card.task).meta["from_text"]
    if from_text is None:
        raise LayerlabError(f"--prompt is for a language model or a translator; {run_dir} holds a {card.task} "
                            "model: pass it files instead")
    return from_text(model, card, text, options or PredictOptions())


def describe_predictions(run_dir: str | Path, results: list[dict[str, Any]]) -> str:
    """`predict_files`' results as lines for people, in the run's task's own words."""
    describe = get_predictor(ModelCard.load(RunDir.open(run_dir).path / "model.json").task).meta["describe"]
    return "\n".join(describe(result) for result in results)


def image_input(card: ModelCard, path: Path | io.BytesIO, *, name: str | None = None,
                max_pixels: int = MAX_PIXELS) -> tuple[Tensor, Tensor, list[str]]:
    """One image file (or an upload's bytes, called `name` in messages) as the model's input:
    (uint8 pixels (C, H, W), normalised batch (1, C, H, W), notes)."""
    channels, height, width = card.input_shape
    image, notes = load_image(path, channels, (height, width), dark_background=card.dataset in ("mnist", "fashion-mnist", "digits"),
                              max_pixels=max_pixels, name=name)
    inputs, _ = float_normalize(card.mean, card.std)(image.unsqueeze(0), torch.zeros(1), torch.Generator())
    return image, inputs, notes


# ---------------------------------------------------------------------------------------------
# Classification: an image file -> its class and the top-5 softmax probabilities
# ---------------------------------------------------------------------------------------------

def evaluate_images(model: nn.Module, card: ModelCard) -> dict[str, float]:
    # your own folder is read at the size and in the channels the model was trained with
    options = {"channels": card.input_shape[0], "size": tuple(card.input_shape[1:])} if card.dataset == "image-folder" else {}
    test = get_dataset(card.dataset, split=card.test_split, root=card.data_dir, **options)
    if test.classes and card.classes and tuple(card.classes) != tuple(test.classes):
        test = select_classes(test, card.classes)   # a model of some of the classes (transfer learning)
    metrics = evaluate(model, test, loss=card.loss, transform=float_normalize(card.mean, card.std), prefix="test_")
    return {"examples": len(test), **metrics}


def describe_image(result: dict[str, Any]) -> str:
    top = ", ".join(f"{t['class']} {t['probability']:.3f}" for t in result["top"])
    lines = [f"{result['file']}: {result['class']} ({result['probability']:.3f})   top: {top}"]
    return "\n".join(lines + [f"  note: {n}" for n in result["notes"]])


@register_predictor("classification", describe=describe_image, evaluate=evaluate_images)
def predict_image(model: nn.Module, card: ModelCard, path: Path, options: PredictOptions) -> list[dict[str, Any]]:
    _, inputs, notes = image_input(card, path)
    with torch.no_grad():
        probs = torch.softmax(model(inputs).float(), dim=1)[0]
    top = probs.argsort(descending=True)[:5]
    classes = card.classes or tuple(str(i) for i in range(len(probs)))
    return [{"file": str(path), "class": classes[int(top[0])], "probability": round(float(probs[top[0]]), 4),
             "top": [{"class": classes[int(i)], "probability": round(float(probs[i]), 4)} for i in top],
             "notes": notes}]


# ---------------------------------------------------------------------------------------------
# Regression: each CSV row (a header names the features) -> one number in the data's units
# ---------------------------------------------------------------------------------------------

def evaluate_rows(model: nn.Module, card: ModelCard) -> dict[str, float]:
    test = get_dataset(card.dataset, split=card.test_split, root=card.data_dir)
    outputs, targets = predict(model, test, transform=float_normalize(card.mean, card.std))
    err = _unscale(card, outputs[:, :1]) - targets
    return {"examples": len(test), "test_rmse": err.pow(2).mean().sqrt().item(), "test_mae": err.abs().mean().item()}


def describe_row(result: dict[str, Any]) -> str:
    return f"{result['file']} row {result['row']}: {result['prediction']:.4f}"


@register_predictor("regression", describe=describe_row, evaluate=evaluate_rows)
def predict_rows(model: nn.Module, card: ModelCard, path: Path, options: PredictOptions) -> list[dict[str, Any]]:
    expected = f"a header row naming the columns {', '.join(card.feature_names)}, then one row of numbers per prediction"
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows, header = list(reader), reader.fieldnames or []
    except OSError as exc:
        raise LayerlabError(f"cannot read {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, csv.Error):   # an image or other binary file
        raise LayerlabError(f"{path} is not a CSV text file; this regression run predicts from CSV rows: {expected}") from None
    missing = [f for f in card.feature_names if f not in header]
    if missing:
        raise LayerlabError(f"{path}: expected {expected}; its first row {', '.join(header[:5]) or '(empty)'} "
                            f"lacks {', '.join(missing[:5])}")
    if not rows:
        raise LayerlabError(f"{path} has a header but no rows to predict; expected {expected}")
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
