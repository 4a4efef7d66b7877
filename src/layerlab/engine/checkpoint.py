"""Safe, atomic saving and loading: weights as safetensors, trainer state for `weights_only=True`.

Every write goes to a temporary file in the same folder, is flushed to disk, and then renamed
over the target, so a crash mid-write leaves the previous file intact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

# the writes live at the bottom layer (layerlab.files); these names stay importable from here
from layerlab.files import atomic_write_bytes, atomic_write_json, atomic_write_text  # noqa: F401
from layerlab.models.pretrained import load_pretrained, load_torch_file


def _cpu_state(model: nn.Module) -> dict[str, torch.Tensor]:
    # safetensors refuses tensors that share memory (tied weights): store contiguous CPU copies
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}


def save_weights(model: nn.Module, path: Path, metadata: dict[str, str] | None = None) -> None:
    from safetensors.torch import save

    atomic_write_bytes(path, save(_cpu_state(model), metadata=metadata))


def load_weights(model: nn.Module, path: Path, *, strict: bool = True) -> nn.Module:
    """Load a .safetensors (or a weights-only .pt) file into `model`; a file that does not fit
    (other tensor shapes, or with `strict` other names) is a one-line error."""
    load_pretrained(model, Path(path), strict=strict)
    return model


def save_state(state: dict[str, Any], path: Path) -> None:
    """Trainer state (optimizer, scheduler, RNG, epoch, history) in a file `weights_only` can read."""
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_state(path: Path) -> dict[str, Any]:
    return load_torch_file(Path(path), kind="layerlab checkpoint")
