"""Safe, atomic saving and loading: weights as safetensors, trainer state for `weights_only=True`.

Every write goes to a temporary file in the same folder, is flushed to disk, and then renamed
over the target, so a crash mid-write leaves the previous file intact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from layerlab.errors import LayerlabError
# the writes live at the bottom layer (layerlab.files); run.py, card.py and labs import them from here too
from layerlab.files import atomic_write_bytes, atomic_write_json, atomic_write_text  # noqa: F401


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    # safetensors refuses tensors that share memory (tied weights): store contiguous CPU copies
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}


def save_weights(model: nn.Module, path: Path, metadata: dict[str, str] | None = None) -> None:
    from safetensors.torch import save

    atomic_write_bytes(path, save(_cpu_state(model), metadata=metadata))


def load_weights(model: nn.Module, path: Path, *, strict: bool = True) -> nn.Module:
    """Load a .safetensors (or a weights-only .pt) file into `model`."""
    path = Path(path)
    if not path.is_file():
        raise LayerlabError(f"no weights file at {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which, not a traceback
        raise LayerlabError(f"{path} is not a readable weights file ({type(exc).__name__}: {exc})") from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    if strict and (missing or unexpected):
        raise LayerlabError(
            f"{path} does not fit this model: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    return model


def save_state(state: dict[str, Any], path: Path) -> None:
    """Trainer state (optimizer, scheduler, RNG, epoch, history) in a file `weights_only` can read."""
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_state(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise LayerlabError(f"{path} is not a readable layerlab checkpoint ({type(exc).__name__})") from None
