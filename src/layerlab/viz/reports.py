"""The figures every classification lab writes: curves, confusion matrix, predictions, mistakes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from layerlab.data.tensors import BatchTransform, TensorData
from layerlab.engine.loop import History, predict
from layerlab.engine.metrics import confusion_matrix
from layerlab.engine.run import RunDir
from layerlab.viz.curves import plot_confusion, plot_history
from layerlab.viz.images import show_predictions


def classification_figures(model: nn.Module, test: TensorData, run: RunDir, *, history: History | None = None,
                           transform: BatchTransform | None = None, amp: bool = False,
                           outputs: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[list[Path], dict[str, Any]]:
    """Write the standard figures into run/figures; returns their paths and a few numbers.

    The numbers: per-class accuracy and the most confidently wrong test examples. `outputs`: the
    (logits, targets) of `predict(model, test, ...)` when the lab has them already (one pass, not two).
    """
    logits, targets = outputs if outputs is not None else predict(model, test, transform=transform, amp=amp)
    probs = torch.softmax(logits, dim=1)                      # softmax: logits -> probabilities
    predicted = probs.argmax(dim=1)                           # evaluation by argmax
    classes = test.classes or tuple(str(i) for i in range(probs.shape[1]))
    matrix = confusion_matrix(predicted, targets, len(classes))
    figures = []
    if history is not None and len(history):
        figures.append(run.save_figure(plot_history(history), "curves"))
    figures.append(run.save_figure(plot_confusion(matrix, classes), "confusion_matrix"))
    first = torch.arange(min(32, len(test)))
    figures.append(run.save_figure(show_predictions(test.inputs[first], probs[first], targets[first], classes,
                                                    "Test images: predicted class (probability)"), "predictions"))
    files = test.meta.get("files") if len(test.meta.get("files") or ()) == len(test) else None   # image folders name them
    wrong = (predicted != targets).nonzero().flatten()
    worst = wrong[probs[wrong].max(dim=1).values.argsort(descending=True)][:16]
    if len(worst):
        figures.append(run.save_figure(show_predictions(test.inputs[worst], probs[worst], targets[worst], classes,
                                                        "Most confidently wrong"), "confidently_wrong"))
    counts = matrix.sum(dim=1).tolist()      # a class with no test image has no accuracy (None), not 0
    per_class = [round(int(right) / n, 4) if n else None for right, n in zip(matrix.diag().tolist(), counts)]
    numbers = {"per_class_accuracy": dict(zip(classes, per_class)),
               "confidently_wrong": [{"index": int(i), **({"file": files[int(i)]} if files else {}),
                                      "true": classes[int(targets[i])], "predicted": classes[int(predicted[i])],
                                      "probability": round(float(probs[i].max()), 4)} for i in worst[:5]]}
    return figures, numbers
