"""The model card: what `eval` and `predict` need to rebuild a trained model from its run folder.

A lab writes one (model.json) next to model.safetensors: the registered model name and its
overrides, the input it expects, how inputs were normalised, and the class names or the target
scaler, so predictions come back as class names or in the data's own units.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from layerlab.files import atomic_write_json
from layerlab.errors import LayerlabError


@dataclass(kw_only=True)
class ModelCard:
    """What a trained model needs around it. Built with keywords only: sixteen fields cannot be
    read or changed safely by position."""

    model: str                                   # registered model name
    overrides: dict[str, Any] = field(default_factory=dict)
    input_shape: tuple[int, ...] = ()
    task: str = "classification"                 # picks the predictor: see layerlab.engine.deploy.PREDICTORS
    loss: str = "cross_entropy"
    classes: tuple[str, ...] = ()
    mean: tuple[float, ...] | None = None        # per-channel (images) or per-feature (tables)
    std: tuple[float, ...] | None = None
    dataset: str = ""
    data_dir: str | None = None                  # as the user gave it (None: the usual places)
    data_source: str | None = None               # the file or folder the reader actually read
    test_split: str = "test"                     # "": no unseen rows for `layerlab eval` (extra["judged_by"] says why)
    feature_names: tuple[str, ...] = ()
    target_mean: float | None = None             # regression targets were standardised: undo it
    target_std: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)   # what one task needs besides (vocabularies, ...)

    def save(self, path: Path) -> None:
        atomic_write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> "ModelCard":
        if not path.is_file():
            raise LayerlabError(f"{path.parent} has no model.json: this lab's run cannot be evaluated or used to predict")
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise LayerlabError(f"cannot read {path}: {exc}") from None
        if not isinstance(raw, dict):
            raise LayerlabError(f"{path} should hold one JSON object (a model card), not {type(raw).__name__}")
        for key in ("input_shape", "classes", "mean", "std", "feature_names"):
            if raw.get(key) is not None:
                raw[key] = tuple(raw[key])
        try:
            return cls(**raw)
        except TypeError as exc:   # a model.json with other fields (another layerlab version): say so
            raise LayerlabError(f"{path} is not a model card this layerlab can read ({exc})") from None
