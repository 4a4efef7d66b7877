"""Open image files safely, and read one for `predict`: any mode or size becomes what the model expects.

A PNG of a few hundred bytes can declare 20000x20000 pixels and decode into 1.6 GB (a
"decompression bomb"). Every image layerlab opens goes through `open_image`, which reads only the
header, compares the declared size with a pixel limit, and decodes nothing larger.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from layerlab.errors import LayerlabError

MAX_PIXELS = 8000 * 8000  # 64 megapixels: 8 times a 12 MP photo; raise it with max_pixels


@contextlib.contextmanager
def open_image(source: Path | io.BytesIO, name: str, *, max_pixels: int = MAX_PIXELS) -> Iterator[Image.Image]:
    """PIL's lazy open of `source` (named `name` in messages), refused in one line when its header
    declares more than `max_pixels` pixels, before any pixel is decoded.

    Unreadable files raise what PIL raises (UnidentifiedImageError, OSError): callers word those.
    """
    try:
        with warnings.catch_warnings():
            # PIL warns above ~89 MP and refuses above ~179 MP; below that, our limit decides
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(source)
    except Image.DecompressionBombError as error:  # declared beyond even PIL's hard limit
        raise LayerlabError(f"{name} is refused as a decompression bomb: {str(error).splitlines()[0]}") from None
    with image:
        width, height = image.size  # from the header: nothing is decoded yet
        if width * height > max_pixels:
            raise LayerlabError(
                f"{name} declares {width}x{height} = {width * height:,} pixels, over the limit of {max_pixels:,}; "
                "pass max_pixels=N to open larger images"
            )
        yield image


def read_pixels(path: Path, mode: str, *, size: tuple[int, int] | None = None, height: int | None = None,
                named_by: Path | None = None) -> np.ndarray:
    """A dataset's image file as uint8 pixels in `mode` ("L": (H, W), "RGB": (H, W, 3)), resized
    bilinearly to `size` (H, W), or to `height` with the width scaled alike (text lines).

    Errors are one line naming the file (and `named_by`, the annotation or list that names it).
    """
    try:
        with open_image(path, str(path)) as opened:
            image = opened.convert(mode)
    except FileNotFoundError:
        raise LayerlabError(f"{path}: image file not found ({named_by or 'its annotation'} names it)") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise LayerlabError(f"{path} is not a readable image ({exc})") from None
    if height is not None:
        size = (height, max(1, round(image.width * height / image.height)))
    return resized(image, size)


def resized(image: Image.Image | np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """uint8 pixels of `image` resized bilinearly (PIL's, as every dataset reader resizes) to `size` (H, W)."""
    image = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    if size is not None and image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def load_image(
    path: Path | io.BytesIO, channels: int, size: tuple[int, int] | None, *, dark_background: bool = False,
    max_pixels: int = MAX_PIXELS, name: str | None = None
) -> tuple[Tensor, list[str]]:
    """uint8 (C, H, W) plus notes telling the user every conversion that was made.

    `path` may be the bytes of an upload (io.BytesIO); `name` is what messages call it (default: the path).

    `size` (H, W) resizes the image to what a classifier expects; None keeps its own size (a
    segmentation net predicts a mask of the image as it is).

    dark_background: the model was trained on light strokes on black (MNIST); a photo of dark ink
    on white paper is inverted to match. An image declaring more than `max_pixels` pixels is refused.
    """
    name = str(path) if name is None else name
    try:
        with open_image(path, name, max_pixels=max_pixels) as opened:
            image = opened.copy()
    except FileNotFoundError:
        raise LayerlabError(f"no image file at {name}") from None
    except UnidentifiedImageError:
        raise LayerlabError(f"{name} is not a readable image (PNG, JPEG, BMP, GIF, TIFF or WebP)") from None
    except OSError as exc:   # a known format, but truncated or broken
        raise LayerlabError(f"{name} is not a readable image ({exc})") from None
    notes = []
    mode = "L" if channels == 1 else "RGB"
    if image.mode != mode:
        notes.append(f"converted {image.mode} to {'grayscale' if mode == 'L' else 'RGB'}")
        image = image.convert(mode)
    height, width = size if size is not None else image.size[::-1]
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
