"""layerlab: a deep-learning course as software, on PyTorch.

The public API, in one place (everything else is reached by its module path):

    from layerlab import get_dataset, get_model, fit, evaluate
    train = get_dataset("digits", split="train")
    model = get_model("mlp", sizes=(64, 32, 10))
    history = fit(model, train, loss="cross_entropy", optimizer="adam", lr=1e-3, epochs=5)
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> the module that defines it. Imported on first use (PEP 562), so `layerlab --help`,
# `layerlab list` and the arithmetic of `layerlab explain` answer without importing torch.
_API = {
    "get_dataset": "layerlab.data", "list_datasets": "layerlab.data",
    "Step": "layerlab.engine", "Supervised": "layerlab.engine", "evaluate": "layerlab.engine", "fit": "layerlab.engine",
    "predict": "layerlab.engine", "train_step": "layerlab.engine",
    "capture": "layerlab.inspect", "summary": "layerlab.inspect",
    "list_labs": "layerlab.labs", "run_lab": "layerlab.labs",
    "get_model": "layerlab.models", "list_models": "layerlab.models",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'layerlab' has no attribute {name!r}")
    value = getattr(importlib.import_module(_API[name]), name)
    globals()[name] = value          # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
