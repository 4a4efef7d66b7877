"""The IDX file format (LeCun's MNIST format), read into tensors.

Layout of an IDX file, all integers big-endian:

    bytes 0-1   0x00 0x00                      magic: always zero
    byte  2     type code                      0x08 uint8, 0x09 int8, 0x0B int16,
                                               0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions (ndim)
    4 * ndim    size of each dimension         e.g. 60000, 28, 28 for the MNIST training images
    the rest    the values, row-major (C order)

MNIST's image files therefore start with 0x00000803 and its label files with 0x00000801. Files may
be gzip-compressed as distributed (`*.gz`); the reader recognises gzip by its first two bytes.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from layerlab.errors import LayerlabError

# type code -> (big-endian numpy dtype as stored, torch dtype we return)
IDX_TYPES: dict[int, tuple[str, torch.dtype]] = {
    0x08: (">u1", torch.uint8),
    0x09: (">i1", torch.int8),
    0x0B: (">i2", torch.int16),
    0x0C: (">i4", torch.int32),
    0x0D: (">f4", torch.float32),
    0x0E: (">f8", torch.float64),
}
GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytearray:
    """The file's bytes, un-gzipped if needed (a bytearray, so torch can share it without a copy)."""
    raw = path.read_bytes()
    if not raw.startswith(GZIP_MAGIC):
        return bytearray(raw)
    try:
        return bytearray(gzip.decompress(raw))
    except (EOFError, OSError, zlib.error) as error:  # cut-off download or damaged archive
        raise LayerlabError(f"{path}: damaged gzip file ({error}); delete it and fetch it again") from None


def read_idx(path: Path) -> Tensor:
    """Read an IDX file (raw or gzip) into a tensor with the file's shape and type."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        raise LayerlabError(
            f"{path}: not an IDX file: expected magic 0x0000 + type code (08/09/0B/0C/0D/0E) + ndim, "
            f"got {bytes(data[:4]).hex() or 'an empty file'}"
        )
    stored, torch_dtype = IDX_TYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise LayerlabError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header} bytes, file has {len(data)}"
        )
    shape = struct.unpack(f">{ndim}I", bytes(data[4:header]))
    itemsize = np.dtype(stored).itemsize
    count = math.prod(shape)
    expected, present = count * itemsize, len(data) - header
    if present != expected:
        kind = "truncated" if present < expected else "over-long"
        raise LayerlabError(
            f"{path}: {kind} IDX file: shape {tuple(shape)} needs {expected} data bytes, found {present}"
        )
    if count == 0:
        flat = torch.empty(0, dtype=torch_dtype)
    elif itemsize == 1:  # uint8/int8: byte order does not matter, share the buffer without a copy
        flat = torch.frombuffer(data, dtype=torch_dtype, count=count, offset=header)
    else:  # multi-byte values are stored big-endian; convert to this machine's byte order
        values = np.frombuffer(data, dtype=stored, count=count, offset=header)
        flat = torch.from_numpy(values.astype(np.dtype(stored).newbyteorder("=")))
    return flat.reshape(shape)


def write_idx(path: Path, tensor: Tensor) -> Path:
    """Write `tensor` as an IDX file (gzip-compressed when the name ends in .gz)."""
    codes = {torch_dtype: (code, stored) for code, (stored, torch_dtype) in IDX_TYPES.items()}
    if tensor.dtype not in codes:
        raise LayerlabError(f"IDX stores uint8, int8, int16, int32, float32 or float64; got {tensor.dtype}")
    if tensor.dim() > 255:
        raise LayerlabError(f"IDX stores at most 255 dimensions; got {tensor.dim()}")
    code, stored = codes[tensor.dtype]
    header = bytes([0, 0, code, tensor.dim()]) + struct.pack(f">{tensor.dim()}I", *tensor.shape)
    body = tensor.detach().cpu().contiguous().numpy().astype(stored).tobytes()
    path = Path(path)
    payload = header + body
    path.write_bytes(gzip.compress(payload, mtime=0) if path.name.endswith(".gz") else payload)
    return path
