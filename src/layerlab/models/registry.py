"""The model registry: `get_model(name, **overrides)` and each model's documented facts.

Each builder is registered with its default input shape and its parameter count at the default
configuration; one test over the whole registry builds every model and checks that count.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn

from layerlab.errors import LayerlabError
from layerlab.registry import Entry, Registry

Builder = Callable[..., nn.Module]

MODELS: Registry[Builder] = Registry("model")


def register_model(
    name: str,
    *,
    input_shape: tuple[int, ...],
    num_params: int,
    task: str = "classification",
    input_dtype: torch.dtype = torch.float32,
    description: str = "",
) -> Callable[[Builder], Builder]:
    """Register a builder. `num_params` is checked by tests/models/test_registry.py."""
    return MODELS.register(
        name,
        input_shape=tuple(input_shape),
        num_params=num_params,
        task=task,
        input_dtype=input_dtype,
        description=description,
    )


def get_model(name: str, **overrides: Any) -> nn.Module:
    """Build a registered model; `overrides` are fields of its config dataclass."""
    entry = MODELS.get(name)
    try:
        return entry.obj(**overrides)
    except TypeError as exc:  # an unknown config field: say which fields exist
        raise LayerlabError(f"model {name!r} does not accept {sorted(overrides)}: {exc}") from None


def list_models() -> list[str]:
    return MODELS.names()


def example_input(entry: Entry[Builder], batch_size: int = 2) -> Tensor:
    """A random batch of the model's default input shape (token ids for sequence models)."""
    shape = (batch_size, *entry.meta["input_shape"])
    dtype = entry.meta["input_dtype"]
    if dtype in (torch.long, torch.int64):
        return torch.randint(0, 10, shape)
    return torch.randn(shape, dtype=dtype)
