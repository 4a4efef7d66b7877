"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Every write goes to a temporary file in the same folder (so the final rename stays within one
file system), is flushed and fsynced to disk, and is then renamed over the target with
`os.replace`, which is atomic. A crash, an exception or Ctrl-C mid-write leaves the previous file
intact and no temporary file behind. This is the bottom layer: it imports nothing from layerlab.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any, BinaryIO, Iterator


@contextlib.contextmanager
def atomic_open(path: Path, *, suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """A binary file that becomes `path` when the `with` block ends without an exception.

    For writes that stream (a download checked as it arrives); whole values use atomic_write_*.
    An exception inside the block removes the temporary file and leaves `path` as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path, suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # also Ctrl-C: never leave a temporary file behind
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _create_temporary(path: Path, suffix: str) -> tuple[int, str]:
    """A new file beside `path`, created with mode 0666 less the umask (0644 under the usual 022),
    as `open()` would: tempfile.mkstemp's 0600 would keep a run's files from the other readers of a
    shared server, such as a teaching assistant."""
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}{suffix}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:   # another writer drew the same name: draw again
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def _fsync_dir(folder: Path) -> None:
    # makes the rename itself durable after a power cut; not every platform can open a folder
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes | memoryview) -> None:
    """Write `data` to `path` atomically, creating its folder if needed."""
    with atomic_open(path) as f:
        f.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` as UTF-8, atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write `obj` as indented JSON with sorted keys and a final newline, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")
