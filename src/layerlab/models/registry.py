"""The model registry: `get_model(name, **overrides)` and each model's documented facts.

Each builder is registered with its default input shape and its parameter count at the default
configuration; one test over the whole registry builds every model and checks that count.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
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
    accepted = config_fields(entry)
    unknown = sorted(set(overrides) - set(accepted))
    if unknown:   # checked before building, so a TypeError from inside a builder stays a bug's traceback
        close = difflib.get_close_matches(unknown[0], accepted, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise LayerlabError(f"model {name!r} does not accept {unknown[0]!r}{hint}; its options are {', '.join(accepted)}")
    return entry.obj(**overrides)


def config_fields(entry: Entry[Builder]) -> tuple[str, ...]:
    """The override names a model accepts: the fields of its config dataclass.

    Every builder is annotated to return its model class, whose `__init__(self, cfg: SomeConfig)`
    names the config; "Go to definition" on either annotation leads to the same fields.
    """
    model_type = typing.get_type_hints(entry.obj)["return"]
    config_type = typing.get_type_hints(model_type.__init__).get("cfg")
    if config_type is None:               # a model with nothing to configure (the cubic's 4 coefficients)
        return ()
    return tuple(f.name for f in dataclasses.fields(config_type))


def list_models() -> list[str]:
    return MODELS.names()


# How many tensors a task's forward reads. A seq2seq model's forward is (src, tgt_in): source ids
# and the teacher-forced target ids, both of the registered length; every other task reads one batch.
_INPUTS_PER_TASK = {"seq2seq": 2}


def example_input(
    entry: Entry[Builder], batch_size: int = 2, *, shape: tuple[int, ...] | None = None
) -> Tensor | tuple[Tensor, ...]:
    """A batch the model's forward accepts, of its registered input shape (or `shape`): a tensor,
    or a tuple of tensors for a model whose forward takes several (call it as `model(*inputs)`).

    Floats are standard normal; token ids are 3..9, past <pad>, <bos> and <eos> (0, 1, 2 in
    layerlab.data.text), so no sentence is all padding. The draw uses its own generator, seeded 0:
    the same batch every time, and torch's global random state is left alone.
    """
    size = (batch_size, *(entry.meta["input_shape"] if shape is None else shape))
    dtype = entry.meta["input_dtype"]
    generator = torch.Generator().manual_seed(0)
    inputs = []
    for _ in range(_INPUTS_PER_TASK.get(entry.meta["task"], 1)):
        if dtype in (torch.long, torch.int64):
            inputs.append(torch.randint(3, 10, size, generator=generator))
        else:
            inputs.append(torch.randn(size, generator=generator, dtype=dtype))
    return inputs[0] if len(inputs) == 1 else tuple(inputs)
