"""Finding and downloading dataset files: the one place where bytes come from outside.

This is security code, kept in one module so it can be reviewed in one sitting:

- `download` streams into a temporary file beside the destination, checks the length the server
  announced and the published checksum, fsyncs, and only then renames the file into place
  (`os.replace` is atomic). A failed or interrupted download never leaves a file that looks good.
- `locate` decides where a dataset's files come from, offline first (DESIGN.md §4): the user's
  folder, the cache, known system copies, and only then the network.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from typing import IO, Sequence

from layerlab.errors import LayerlabError
from layerlab.files import atomic_open

CHUNK = 1 << 20  # 1 MiB: big enough to keep Python overhead low, small enough for a smooth bar


def cache_dir() -> Path:
    """Where downloads are kept: $XDG_CACHE_HOME/layerlab, else ~/.cache/layerlab."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "layerlab"


def find_file(root: Path | None, dataset: str, filename: str) -> Path:
    """A file with no published checksum: `root/filename`, else `root/dataset/filename`, else the
    cache (cache_dir()/dataset/). Missing everywhere: one line saying where to put it."""
    candidates = [] if root is None else [Path(root) / filename, Path(root) / dataset / filename]
    candidates.append(cache_dir() / dataset / filename)
    for path in candidates:
        if path.is_file():
            return path
    raise LayerlabError(f"{dataset} needs {filename}: put it in --data-dir (looked in {candidates[0].parent})")


# ---------------------------------------------------------------------------------------------
# Checksums
# ---------------------------------------------------------------------------------------------


def _hashers(sha256: str | None, md5: str | None) -> dict[str, "hashlib._Hash"]:
    wanted = {"sha256": sha256, "md5": md5}
    # md5 only checks integrity against a published value here, never security on its own
    return {name: hashlib.new(name, usedforsecurity=False) for name, value in wanted.items() if value}


def _mismatch(hashers: dict[str, "hashlib._Hash"], sha256: str | None, md5: str | None) -> str | None:
    """None if every given checksum matches, else 'sha256 expected X, got Y'."""
    expected = {"sha256": sha256, "md5": md5}
    for name, hasher in hashers.items():
        want, got = str(expected[name]).strip().lower(), hasher.hexdigest()
        if want != got:
            return f"{name} expected {want}, got {got}"
    return None


def verify(path: Path, *, sha256: str | None = None, md5: str | None = None) -> bool:
    """True when the file's bytes match every checksum given (at least one must be given)."""
    if not sha256 and not md5:
        raise ValueError("verify() needs a sha256 or an md5 to compare against")
    hashers = _hashers(sha256, md5)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            for hasher in hashers.values():
                hasher.update(chunk)
    return _mismatch(hashers, sha256, md5) is None


# ---------------------------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------------------------


class _Progress:
    """One line on stderr: bytes, percent, speed. Redrawn with '\\r' only on a terminal."""

    def __init__(self, name: str, total: int | None, enabled: bool) -> None:
        self.name, self.total, self.enabled = name, total, enabled
        self.live = enabled and sys.stderr.isatty()
        self.start = self.last_draw = time.monotonic()

    def line(self, done: int) -> str:
        seconds = max(time.monotonic() - self.start, 1e-6)
        speed = done / seconds / 1e6
        if self.total:
            percent = 100 * done / self.total
            return f"{self.name}: {done / 1e6:.1f}/{self.total / 1e6:.1f} MB {percent:3.0f}% {speed:.1f} MB/s"
        return f"{self.name}: {done / 1e6:.1f} MB {speed:.1f} MB/s"

    def update(self, done: int) -> None:
        now = time.monotonic()
        if self.live and now - self.last_draw >= 0.1:  # redraw at most 10 times a second
            self.last_draw = now
            sys.stderr.write("\r" + self.line(done))
            sys.stderr.flush()

    def finish(self, done: int) -> None:
        if self.enabled:
            sys.stderr.write(("\r" if self.live else "") + self.line(done) + "\n")
            sys.stderr.flush()


def _check_scheme(url: str) -> None:
    # urllib would also open file:// and ftp:// addresses; a dataset address is always http(s)
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise LayerlabError(f"download {url}: expected an http:// or https:// address, got scheme {scheme!r}")


def _stream(url: str, out: IO[bytes], hashers: dict, progress: bool, timeout: float) -> int:
    """Copy the response body into `out`, feeding the hashers; returns the number of bytes."""
    request = urllib.request.Request(url, headers={"User-Agent": "layerlab"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        bar = _Progress(Path(urllib.parse.urlsplit(url).path).name or url, total, progress)
        done = 0
        while chunk := response.read(CHUNK):
            out.write(chunk)
            for hasher in hashers.values():
                hasher.update(chunk)
            done += len(chunk)
            bar.update(done)
    if total is not None and done != total:
        raise LayerlabError(f"download {url}: the transfer ended after {done} of {total} bytes")
    bar.finish(done)
    return done


def download(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    md5: str | None = None,
    progress: bool = True,
    timeout: float = 30,
) -> Path:
    """Fetch `url` into `dest` atomically: `dest` is either absent or a complete, verified file.

    `timeout` bounds each network wait (connect, each read), not the whole transfer.
    """
    _check_scheme(url)
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise LayerlabError(f"download {url}: cannot write into {dest.parent} ({error.strerror})") from None
    try:
        # the bytes stream into a temporary file beside dest that becomes dest only once verified
        with atomic_open(dest, suffix=".part") as out:
            hashers = _hashers(sha256, md5)
            _stream(url, out, hashers, progress, timeout)
            problem = _mismatch(hashers, sha256, md5)
            if problem:
                raise LayerlabError(f"download {url}: checksum mismatch, {problem}")
    except urllib.error.HTTPError as error:
        raise LayerlabError(f"download {url}: HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise LayerlabError(f"download {url}: {error.reason}") from None
    except (OSError, HTTPException) as error:
        raise LayerlabError(f"download {url}: {type(error).__name__}: {error}") from None
    return dest


# ---------------------------------------------------------------------------------------------
# Where a dataset's files come from
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset: its canonical name, official address and published checksum.

    `aliases` are other names the same content is known by (a renamed copy, an alternative
    spelling); they are accepted in the user's folder and in system copies, never downloaded.
    """

    filename: str
    url: str
    sha256: str | None = None
    md5: str | None = None
    aliases: tuple[str, ...] = ()

    def candidates(self) -> list[str]:
        """File names accepted on disk: each name as given, and without .gz (already unpacked)."""
        names = []
        for name in (self.filename, *self.aliases):
            names.append(name)
            if name.endswith(".gz"):
                names.append(name[: -len(".gz")])
        return list(dict.fromkeys(names))


def _find(spec: FileSpec, folders: Sequence[Path]) -> Path | None:
    for folder in folders:
        for name in spec.candidates():
            path = folder / name
            if path.is_file():
                return path
    return None


def _user_root(dataset: str, root: Path | None) -> list[Path]:
    """The user's folder (or $LAYERLAB_DATA): `FOLDER/<dataset>/` first, then `FOLDER/` itself.

    The per-dataset subfolder comes first because MNIST and Fashion-MNIST share file names.
    """
    source = "--data-dir"
    if root is None and os.environ.get("LAYERLAB_DATA"):
        root, source = Path(os.environ["LAYERLAB_DATA"]).expanduser(), "LAYERLAB_DATA"
    if root is None:
        return []
    if not root.is_dir():
        raise LayerlabError(f"{dataset}: the data folder {root} given by {source} does not exist")
    return [root / dataset, root]


def _from_cache(spec: FileSpec, folder: Path) -> Path | None:
    path = folder / spec.filename
    if not path.is_file():
        return None
    if (spec.sha256 or spec.md5) and not verify(path, sha256=spec.sha256, md5=spec.md5):
        return None  # damaged or tampered with since it was downloaded: fetch it again
    return path


def locate(
    dataset: str,
    files: list[FileSpec],
    root: Path | None,
    *,
    system_dirs: Sequence[Path] = (),
    allow_download: bool = True,
) -> dict[str, Path]:
    """Find every file of `dataset`, trying in order: the user's folder (`root`, or $LAYERLAB_DATA
    when root is None), the cache, `system_dirs`, then a verified download into the cache.

    Files in the user's folder and in system copies are trusted as they are (they may be
    re-compressed or unpacked, so the published checksum need not apply); the IDX and CSV
    readers check their structure. Returns {spec.filename: path on disk}.
    """
    user_folders = _user_root(dataset, root)
    cache = cache_dir() / dataset
    found: dict[str, Path] = {}
    missing: list[FileSpec] = []
    for spec in files:
        path = _find(spec, user_folders) or _from_cache(spec, cache) or _find(spec, list(system_dirs))
        if path is None:
            missing.append(spec)
        else:
            found[spec.filename] = path
    for i, spec in enumerate(missing):
        if not allow_download:
            raise LayerlabError(_offline_message(dataset, missing, "downloads are turned off"))
        try:
            found[spec.filename] = download(spec.url, cache / spec.filename, sha256=spec.sha256, md5=spec.md5)
        except LayerlabError as error:
            reason = str(error).removeprefix(f"download {spec.url}: ")
            raise LayerlabError(
                _offline_message(dataset, missing[i:], f"download from {spec.url} failed: {reason}")
            ) from None
    return found


def _offline_message(dataset: str, missing: list[FileSpec], reason: str) -> str:
    names = ", ".join(spec.filename for spec in missing)
    return f"{dataset}: put {names} into a folder and pass --data-dir FOLDER ({reason})"
