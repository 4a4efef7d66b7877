"""Reading one image for `predict`: conversions are reported, and a decompression bomb is refused
from its header, in one line, before any pixel is decoded."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from layerlab.data import get_dataset
from layerlab.data.imagefile import load_image, read_pixels, resized
from layerlab.errors import LayerlabError


def _png_declaring(path: Path, width: int, height: int) -> Path:
    """A real 1x1 PNG whose IHDR chunk is rewritten to declare width x height (with a valid CRC)."""
    Image.fromarray(np.zeros((1, 1), dtype=np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    # bytes 8..15: chunk length + b"IHDR"; 16..28: width, height, depth, colour type, ...; 29..32: CRC
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def test_an_image_is_converted_and_resized_with_a_note_for_each_step(tmp_path: Path) -> None:
    Image.fromarray(np.full((4, 6, 3), 200, dtype=np.uint8)).save(tmp_path / "light.png")
    tensor, notes = load_image(tmp_path / "light.png", 1, (2, 3), dark_background=True)
    assert tensor.shape == (1, 2, 3) and tensor.dtype == torch.uint8
    assert tensor.flatten().tolist() == [55] * 6  # grey 200 -> inverted: 255 - 200
    assert notes == ["converted RGB to grayscale", "resized 6x4 to 3x2",
                     "inverted (dark strokes on a light background; the model expects light on dark)"]


def test_a_png_declaring_20000x20000_pixels_is_refused_in_one_line(tmp_path: Path) -> None:
    bomb = _png_declaring(tmp_path / "bomb.png", 20000, 20000)
    assert bomb.stat().st_size < 100  # a few bytes that would decode into 400 million pixels
    with pytest.raises(LayerlabError) as info:
        load_image(bomb, 3, (32, 32))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{bomb} is refused as a decompression bomb: Image size (400000000 pixels) exceeds limit")


def test_the_pixel_limit_reads_the_header_and_can_be_raised(tmp_path: Path) -> None:
    large = _png_declaring(tmp_path / "large.png", 9000, 9000)  # 81 MP: over 64 MP, under PIL's own limits
    with pytest.raises(LayerlabError) as info:
        load_image(large, 1, (28, 28))
    assert str(info.value) == (
        f"{large} declares 9000x9000 = 81,000,000 pixels, over the limit of 64,000,000; "
        "pass max_pixels=N to open larger images"
    )
    # allowed now, so the decoder runs and finds one pixel's data where 81 million were declared
    with pytest.raises(LayerlabError, match=f"{large} is not a readable image"):
        load_image(large, 1, (28, 28), max_pixels=10**8)


def test_image_folders_refuse_a_bomb_the_same_way(tmp_path: Path) -> None:
    (tmp_path / "train" / "cat").mkdir(parents=True)
    _png_declaring(tmp_path / "train" / "cat" / "bomb.png", 9000, 9000)
    # a hostile file is left out like a corrupt one, and the reason is the message's example
    with pytest.raises(LayerlabError, match=r"no readable .*bomb\.png declares 9000x9000 = 81,000,000 pixels"):
        get_dataset("image-folder", root=tmp_path)


def test_missing_and_unreadable_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(LayerlabError, match="no image file at .*missing.png"):
        load_image(tmp_path / "missing.png", 1, (28, 28))
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(LayerlabError, match="text.png is not a readable image"):
        load_image(tmp_path / "text.png", 1, (28, 28))


def test_dataset_readers_resize_to_a_size_or_a_height_and_name_the_file_that_lists_a_missing_one(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (40, 100, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    assert read_pixels(tmp_path / "a.png", "RGB").tobytes() == rgb.tobytes()          # no size: the file as it is
    assert read_pixels(tmp_path / "a.png", "RGB", size=(20, 30)).shape == (20, 30, 3)
    line = read_pixels(tmp_path / "a.png", "L", height=16)                          # a text line: 100 * 16 / 40 = 40 wide
    assert line.shape == (16, 40)
    # predict resizes an already decoded image: the same pixels as the reader that made the training data
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    assert np.array_equal(resized(grey, (16, 40)), line)
    assert not np.array_equal(resized(grey, (16, 40)), grey[::5, ::2][:16, :40])   # bilinear, not every n-th pixel
    with pytest.raises(LayerlabError, match=r"b.png: image file not found \(.*list.json names it\)$"):
        read_pixels(tmp_path / "b.png", "RGB", named_by=tmp_path / "list.json")
