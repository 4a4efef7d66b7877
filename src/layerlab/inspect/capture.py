"""`capture(model, "features.3")`: record what a layer outputs (feature maps) during forward.

    with capture(model, "conv1", "layer1") as maps:
        model(image)
    maps["conv1"].shape    # (1, 64, 112, 112)

The hooks are removed when the block ends, even after an error.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from torch import Tensor, nn

from layerlab.errors import LayerlabError


@contextlib.contextmanager
def capture(model: nn.Module, *names: str) -> Iterator[dict[str, Tensor]]:
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        choices = ", ".join(n for n in modules if n)[:300]
        raise LayerlabError(f"no layer named {missing[0]!r} in {type(model).__name__}; layers: {choices}")
    records: dict[str, Tensor] = {}

    def hook_for(name: str):
        def hook(module: nn.Module, inputs: object, output: object) -> None:
            tensor = output[0] if isinstance(output, (tuple, list)) else output
            # a copy: an in-place ReLU right after this layer would otherwise rewrite the record
            records[name] = tensor.detach().clone()
        return hook

    handles = [modules[n].register_forward_hook(hook_for(n)) for n in names]
    try:
        yield records
    finally:
        for handle in handles:
            handle.remove()
