"""Safe, atomic saving and loading: weights as safetensors, trainer state for `weights_only=True`.

Every write goes to a temporary file in the same folder, is flushed to disk, and then renamed
over the target, so a crash mid-write leaves the previous file intact.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from layerlab.models.pretrained import load_pretrained, load_torch_file


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


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
