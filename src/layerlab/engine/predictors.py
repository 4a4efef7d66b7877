"""What `layerlab predict` and `layerlab eval` do for each task, looked up by the card's `task`.

A task registers its predictor with one decorator, right above it, naming how to print one
prediction and (optionally) how to score the model on its test split:

    @register_predictor("regression", describe=describe_row, evaluate=evaluate_rows)
    def predict_rows(model, card, path, options) -> list[dict]: ...

`predict_files` and `evaluate_run` (engine/deploy.py) dispatch on `card.task` with no if-chain,
so a new problem type adds its own predictor instead of a branch in shared code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from torch import nn

from layerlab.engine.card import ModelCard
from layerlab.errors import LayerlabError
from layerlab.registry import Entry, Registry


@dataclass(frozen=True)
class PredictOptions:
    """Choices a user makes at prediction time; a task reads the ones it has a use for."""

    seed: int | None = None    # sequence tasks: sample with this seed (None: greedy); --samples: the noise's seed (None: 0)
    length: int = 200          # language models: how many characters to write after the prompt
    temperature: float | None = None   # language models: sample at this temperature (seed 0 unless given)
    samples: int = 0           # generative models: how many new images to draw (--samples)
    out: str | None = None     # where --samples writes its PNGs (None: RUN_DIR/samples/seed-S)

    def __post_init__(self) -> None:
        if self.length < 1:
            raise LayerlabError(f"--length must be at least 1 (characters to write), got {self.length}")
        if self.temperature is not None and not 0 < self.temperature < float("inf"):
            raise LayerlabError(f"--temperature must be a positive number (1: the model's own probabilities), "
                                f"got {self.temperature}")
        if self.samples < 0:
            raise LayerlabError(f"--samples must be a positive number of images, got {self.samples}")


Predict = Callable[[nn.Module, ModelCard, Path, PredictOptions], list[dict[str, Any]]]
Describe = Callable[[dict[str, Any]], str]               # one prediction as a line for people
Evaluate = Callable[[nn.Module, ModelCard], dict[str, float]]
FromText = Callable[[nn.Module, ModelCard, str, PredictOptions], list[dict[str, Any]]]
Sample = Callable[[nn.Module, ModelCard, Path, PredictOptions], list[dict[str, Any]]]   # (..., output folder, options)

PREDICTORS: Registry[Predict] = Registry("task")


def register_predictor(task: str, *, describe: Describe, evaluate: Evaluate | None = None,
                       from_text: FromText | None = None, sample: Sample | None = None) -> Callable[[Predict], Predict]:
    """Register `predict(model, card, path, options) -> [one dict per prediction]` for `task`.

    `describe` turns one of those dicts into text; `evaluate(model, card)` computes test metrics
    afresh (None: this task's runs are scored inside their lab only); `from_text(model, card, text,
    options)` predicts from text typed on the command line (`--prompt`; None: files only);
    `sample(model, card, folder, options)` draws `options.samples` new outputs into `folder` (None:
    this task does not generate).
    """
    return PREDICTORS.register(task, describe=describe, evaluate=evaluate, from_text=from_text, sample=sample)


def get_predictor(task: str) -> Entry[Predict]:
    """The registered predictor of `task`; `entry.meta` holds its describe and evaluate."""
    if task not in PREDICTORS:
        raise LayerlabError(f"this run's model card names the task {task!r}, which has no predictor; "
                            f"known tasks: {', '.join(PREDICTORS.names())}")
    return PREDICTORS.get(task)
