"""Read one image file for `predict`: any mode or size becomes what the model expects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from layerlab.errors import LayerlabError


def load_image(path: Path, channels: int, size: tuple[int, int], *, dark_background: bool = False) -> tuple[Tensor, list[str]]:
    """uint8 (C, H, W) plus notes telling the user every conversion that was made.

    dark_background: the model was trained on light strokes on black (MNIST); a photo of dark ink
    on white paper is inverted to match.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            image = opened.copy()
    except FileNotFoundError:
        raise LayerlabError(f"no image file at {path}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise LayerlabError(f"{path} is not a readable image ({exc})") from None
    notes = []
    mode = "L" if channels == 1 else "RGB"
    if image.mode != mode:
        notes.append(f"converted {image.mode} to {'grayscale' if mode == 'L' else 'RGB'}")
        image = image.convert(mode)
    height, width = size
    if image.size != (width, height):
        notes.append(f"resized {image.size[0]}x{image.size[1]} to {width}x{height}")
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    tensor = torch.from_numpy(array.copy())
    tensor = tensor.unsqueeze(0) if tensor.dim() == 2 else tensor.permute(2, 0, 1)
    if dark_background and tensor.float().mean() > 127:
        notes.append("inverted (dark strokes on a light background; the model expects light on dark)")
        tensor = 255 - tensor
    return tensor.contiguous(), notes
