"""Finding and downloading dataset files: the one place where bytes come from outside.

This is security code, kept in one module so it can be reviewed in one sitting:

- `download` streams into a temporary file beside the destination, checks the length the server
  announced and the published checksum, fsyncs, and only then renames the file into place
  (`os.replace` is atomic). A failed or interrupted download never leaves a file that looks good.
- `find_copy` (and `locate`, built on it for named files) decides where every dataset's files
  come from, offline first (DESIGN.md §4): the user's folder, $LAYERLAB_DATA/<dataset>, the cache,
  known system copies, and only then a checksum-verified download.
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
from typing import IO, Callable, Sequence, TypeVar

from layerlab.errors import LayerlabError
from layerlab.files import atomic_open

CHUNK = 1 << 20  # 1 MiB: big enough to keep Python overhead low, small enough for a smooth bar


def cache_dir() -> Path:
    """Where downloads are kept: $XDG_CACHE_HOME/layerlab, else ~/.cache/layerlab."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "layerlab"


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
# Where a dataset's files come from: one order for every reader
# ---------------------------------------------------------------------------------------------

T = TypeVar("T")


def dataset_cache(dataset: str) -> Path:
    """The cache folder of one dataset, where its downloads land: cache_dir()/<dataset>/."""
    return cache_dir() / dataset


def dataset_folders(
    dataset: str, root: Path | None, *, system_dirs: Sequence[Path] = (), folder_names: Sequence[str] = ()
) -> list[Path]:
    """Every folder that may hold `dataset`, in the order they are tried (DESIGN.md §4):

    1. the user's folder `root` (--data-dir): ROOT/<dataset>/ first, then ROOT itself (MNIST and
       Fashion-MNIST share file names, so a folder holding both needs the subfolders);
    2. $LAYERLAB_DATA/<dataset>/ (a folder of datasets, one subfolder each);
    3. the cache, cache_dir()/<dataset>/, where downloads land;
    4. `system_dirs`: known system copies (Debian's dataset packages).
    `folder_names` are other names the per-dataset subfolder goes by (e.g. cifar10-jpg).
    A `root` that does not exist is the user's typo: a one-line error, not a silent fall-through.
    """
    names = [dataset, *folder_names]
    folders: list[Path] = []
    if root is not None:
        root = Path(root).expanduser()
        if not root.exists():
            raise LayerlabError(f"{dataset}: the data folder {root} given by --data-dir does not exist")
        folders += [root / name for name in names] + [root]
    if os.environ.get("LAYERLAB_DATA"):
        folders += [Path(os.environ["LAYERLAB_DATA"]).expanduser() / name for name in names]
    folders.append(dataset_cache(dataset))
    return folders + [Path(folder) for folder in system_dirs]


def find_copy(
    dataset: str,
    root: Path | None,
    accept: Callable[[Path], T | None],
    *,
    system_dirs: Sequence[Path] = (),
    folder_names: Sequence[str] = (),
) -> T | None:
    """The first copy of `dataset` that `accept(folder)` recognises, trying `dataset_folders` in order.

    `accept` looks into one folder and returns what it found there (a path, a kind of copy) or None.
    Every reader finds its files through here, directly or through `locate`.
    """
    for folder in dataset_folders(dataset, root, system_dirs=system_dirs, folder_names=folder_names):
        found = accept(folder)
        if found is not None:
            return found
    return None


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset: its canonical name, official address and published checksum.

    `url` is None for a file that is never downloaded (the user brings it). `aliases` are other
    names the same content is known by (a renamed copy, an alternative spelling); they are
    accepted in the user's folder and in system copies, never downloaded.
    """

    filename: str
    url: str | None = None
    sha256: str | None = None
    md5: str | None = None
    aliases: tuple[str, ...] = ()
    raw_md5: str | None = None     # md5 of the unpacked bytes: the same for a re-compressed or unpacked copy
    raw_size: int | None = None    # their size: a copy of this size must match raw_md5

    def candidates(self) -> list[str]:
        """File names accepted on disk: each name as given, and without .gz (already unpacked)."""
        names = []
        for name in (self.filename, *self.aliases):
            names.append(name)
            if name.endswith(".gz"):
                names.append(name[: -len(".gz")])
        return list(dict.fromkeys(names))


def _in_folder(spec: FileSpec, folder: Path) -> Path | None:
    for name in spec.candidates():
        path = folder / name
        if path.is_file():
            return path
    return None


def _from_cache(spec: FileSpec, folder: Path) -> Path | None:
    path = folder / spec.filename
    if not path.is_file():
        return None
    if (spec.sha256 or spec.md5) and not verify(path, sha256=spec.sha256, md5=spec.md5):
        return None  # damaged or tampered with since it was downloaded: fetch it again
    return path


def locate(
    dataset: str,
    files: Sequence[FileSpec],
    root: Path | None,
    *,
    system_dirs: Sequence[Path] = (),
    allow_download: bool = True,
    hint: str = "",
) -> dict[str, Path]:
    """Find every file of `dataset` in `dataset_folders` order, else download it into the cache.

    Copies in the user's folders and in system copies are trusted as they are (they may be
    re-compressed or unpacked, so the published checksum need not apply; the readers check their
    structure); a cached copy must match its checksum. Offline with no copy: one line saying which
    files to put where; `hint` names one more way to get them (e.g. a system package).
    Returns {spec.filename: path on disk}.
    """
    cache = dataset_cache(dataset)
    found: dict[str, Path] = {}
    missing: list[FileSpec] = []
    for spec in files:
        path = find_copy(
            dataset,
            root,
            lambda folder: _from_cache(spec, folder) if folder == cache else _in_folder(spec, folder),
            system_dirs=system_dirs,
        )
        if path is None:
            missing.append(spec)
        else:
            found[spec.filename] = path
    for i, spec in enumerate(missing):
        if spec.url is None or not allow_download:
            reason = "downloads are turned off" if spec.url is not None else "it has no official download address"
            raise LayerlabError(_offline_message(dataset, missing, reason, hint))
        try:
            found[spec.filename] = download(spec.url, cache / spec.filename, sha256=spec.sha256, md5=spec.md5)
        except LayerlabError as error:
            reason = str(error).removeprefix(f"download {spec.url}: ")
            raise LayerlabError(
                _offline_message(dataset, missing[i:], f"download from {spec.url} failed: {reason}", hint)
            ) from None
    return found


def find_file(root: Path | None, dataset: str, filename: str) -> Path:
    """One file the user brings (no official download), found like every other dataset file."""
    return locate(dataset, [FileSpec(filename)], root)[filename]


def _offline_message(dataset: str, missing: list[FileSpec], reason: str, hint: str = "") -> str:
    names = ", ".join(spec.filename for spec in missing)
    extra = f", or {hint}" if hint else ""
    return (
        f"{dataset}: put {names} into a folder and pass --data-dir FOLDER (or put "
        f"{'it' if len(missing) == 1 else 'them'} in {dataset_cache(dataset)}){extra} ({reason})"
    )
