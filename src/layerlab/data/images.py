"""Image folders (one subfolder per class), also inside a .tar/.tar.gz/.tgz/.zip archive.

Layout: `root/<split>/<class>/<name>.png|.jpg|.jpeg`, e.g. `root/train/cat/0001.jpg`. The classes
are the TRAINING split's folders, sorted by name and numbered from 0, so label ids are the same on
every machine and in every split; a val/test folder the training split lacks is an error. An archive holds
the same layout (optionally under one top folder) and is read member by member in memory: nothing
is unpacked to disk, links are never followed.

Decoding 60,000 JPEGs takes seconds, so it happens once: the result (uint8 images (N, C, H, W),
int64 labels, class names, per-channel statistics) is saved as a .npz of plain arrays (no pickle)
in the cache folder, keyed by a checksum of the source. The next read only checks the checksum
and loads the arrays.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import multiprocessing
import tarfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

import numpy as np
import torch
from PIL import Image

from layerlab.data.download import cache_dir, dataset_folders, find_copy
from layerlab.data.imagefile import open_image
from layerlab.data.registry import register_dataset
from layerlab.data.tensors import TensorData
from layerlab.data.transforms import channel_stats
from layerlab.errors import LayerlabError, LayerlabWarning
from layerlab.files import atomic_write_bytes

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".zip")
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")
CACHE_VERSION = 2  # bump when the cached arrays change meaning, so old files are not reused
POOL_MIN_IMAGES = 4096  # below this, starting worker processes costs more than it saves
MAX_IMAGE_BYTES = 64 * 2**20  # one archive member at most: a 4000x4000 PNG is ~30 MiB; raise it with max_image_bytes

Size = tuple[int, int]  # (height, width)
Item = tuple[str, str, "bytes | Path"]  # (class name, name for messages, encoded image)


@dataclass
class Decoded:
    """One split as compact arrays, plus the per-channel statistics of its pixels in [0, 1].

    `files` names image i as `split/class/file.jpg` (or `archive:member`); `skipped` says, for each
    file that could not be decoded and was left out, its name and why.
    """

    inputs: np.ndarray  # (N, C, H, W) uint8
    targets: np.ndarray  # (N,) int64 class ids
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    files: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()

    def to_tensor_data(self, name: str, meta: dict) -> TensorData:
        meta = {**meta, "files": self.files} if self.files else meta
        return TensorData(torch.from_numpy(self.inputs), torch.from_numpy(self.targets), self.classes, name, meta)

    def warn_skipped(self, split: str) -> None:
        """One warning naming the unreadable files (the first few) and how many there were."""
        if self.skipped:
            shown = "; ".join(self.skipped[:3]) + (f" and {len(self.skipped) - 3} more" if len(self.skipped) > 3 else "")
            warnings.warn(f"skipped {len(self.skipped)} unreadable image{'s' if len(self.skipped) > 1 else ''} "
                          f"in {split}/: {shown}", LayerlabWarning, stacklevel=3)


def decoded_arrays(inputs: np.ndarray, targets: np.ndarray, classes: tuple[str, ...],
                   files: tuple[str, ...] = (), skipped: tuple[str, ...] = ()) -> Decoded:
    """Wrap freshly read arrays, computing their channel statistics once (they are cached with them)."""
    mean, std = channel_stats(torch.from_numpy(inputs))
    return Decoded(inputs, targets.astype(np.int64), classes, mean, std, files, skipped)


# --- the registered reader ------------------------------------------------------------------------


@register_dataset(
    "image-folder",
    task="classification",
    input_shape=None,
    splits=("train", "val", "test"),
    description="your own images: DIR/train/<class>/*.png|jpg and DIR/test/<class>/..., or a .tar.gz/.zip of that",
    files="pass --data-dir DIR where DIR/train/<class>/ and DIR/test/<class>/ hold .png/.jpg files (or DIR is a .tar.gz/.zip of them)",
)
def image_folder(
    root: Path | None = None,
    split: str = "train",
    size: int | Size | None = None,
    channels: int | None = None,
    cache_dir: Path | None = None,
    max_image_bytes: int = MAX_IMAGE_BYTES,
) -> TensorData:
    """One split of a folder or archive of class folders, in the TRAINING split's terms.

    Every split numbers its classes as the training split does (a test split missing a class
    keeps the later ids), and meta holds the training split's mean and std, the statistics the
    model is trained with. `size` resizes every image to (H, W) (one int: square); without it all
    images must already share one size. `channels` forces 1 (grayscale) or 3 (RGB); by default
    images are RGB unless every one of them is grayscale. An archive member larger than
    `max_image_bytes` is refused before its bytes are read (a forged size, or a file that is no image).
    A file that does not decode is left out with a warning that names it; `meta["files"]` names
    every image kept, in order.
    """
    root = _find_images(root)
    options = {"size": size, "channels": channels, "cache_dir": cache_dir, "max_image_bytes": max_image_bytes}
    if split == "train":
        data = load_split(root, split, **options)
        mean, std = data.mean, data.std
    else:
        classes, mean, std = load_summary(root, "train", **options)
        data = load_split(root, split, classes=classes, **options)
    data.warn_skipped(split)
    return data.to_tensor_data("image-folder", {"mean": mean, "std": std, "source": str(root)})


def available_splits(source: Path) -> set[str]:
    """Which of train/, val/, test/ a folder or archive of class folders holds."""
    names = ("train", "val", "test")
    if source.is_dir():
        return {split for split in names if (source / split).is_dir()}
    try:
        if source.name.lower().endswith(".zip"):
            with zipfile.ZipFile(source) as zf:
                paths = [PurePosixPath(n) for n in zf.namelist()]
        else:
            with tarfile.open(source, "r|*") as tar:
                paths = [PurePosixPath(member.name) for member in tar]
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error) as error:
        raise LayerlabError(f"cannot read {source}: {error} (expected an archive of class folders)") from None
    return {split for split in names for path in paths if split in path.parts[:-1]}


def folder_splits(root: Path, *, size: Size, channels: int, val_fraction: float = 0.1,
                  seed: int = 0) -> tuple[TensorData, TensorData, TensorData | None, bool]:
    """(train, val, test or None, whether val was held out of train/) of an image folder: val/ when the
    folder has it, else `val_fraction` of train/ (stratified, seeded); test/ only when it exists."""
    from layerlab.data.splits import train_val_split

    splits = available_splits(root)
    read = {split: image_folder(root, split, size=size, channels=channels) for split in ("train", "val", "test")
            if split in splits}
    if "train" not in read:
        raise LayerlabError(f"{root}: no train/ folder (expected train/<class>/*.png|jpg, and optionally val/ and test/)")
    train, held_out = read["train"], "val" not in read
    train, val = train_val_split(train, val_fraction, seed=seed) if held_out else (train, read["val"])
    return train, val, read.get("test"), held_out


def find_images(root: Path | None) -> Path:
    """The image folder or archive the usual places hold (see image_folder)."""
    return _find_images(root)


def _find_images(root: Path | None) -> Path:
    """The folder (with train/<class>/) or archive the usual order finds first (download.find_copy)."""
    found = find_copy("image-folder", root, lambda folder: folder if is_archive(folder) or (folder / "train").is_dir() else None)
    if found is None:
        looked = ", ".join(str(p) for p in dataset_folders("image-folder", root))
        raise LayerlabError(
            f"image-folder: no train/<class>/ folders found (looked in {looked}); pass --data-dir DIR where "
            "DIR/train/<class>/ and DIR/test/<class>/ hold .png/.jpg files (or DIR is a .tar.gz/.zip of them)"
        )
    return found


def load_split(
    source: Path,
    split: str,
    *,
    size: int | Size | None = None,
    channels: int | None = None,
    cache_dir: Path | None = None,
    classes: tuple[str, ...] | None = None,
    workers: int = 2,
    max_image_bytes: int = MAX_IMAGE_BYTES,
) -> Decoded:
    """Decode `source/<split>/<class>/*` once (cached), then return the arrays.

    `classes` fixes the class ids (the training split's classes, for every other split); without
    it they are this split's own folder names, sorted. A folder outside `classes` is an error.
    """
    size = _as_size(size)
    if channels not in (None, 1, 3):
        raise LayerlabError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")
    path = _split_cache_path(source, split, size, channels, cache_dir, classes)
    return load_cached(path, lambda: _decode_split(
        source, split, _items(source, split, max_image_bytes), size=size, channels=channels, workers=workers,
        classes=classes,
    ))


def load_summary(
    source: Path,
    split: str,
    *,
    size: int | Size | None = None,
    channels: int | None = None,
    cache_dir: Path | None = None,
    max_image_bytes: int = MAX_IMAGE_BYTES,
) -> tuple[tuple[str, ...], tuple[float, ...], tuple[float, ...]]:
    """(classes, mean, std) of one split; on a cache hit only these small arrays are read."""
    path = _split_cache_path(source, split, _as_size(size), channels, cache_dir)
    return load_cached_summary(path, lambda: load_split(source, split, size=size, channels=channels,
                                                        cache_dir=cache_dir, max_image_bytes=max_image_bytes))


def _as_size(size: int | Size | None) -> Size | None:
    if size is None:
        return None
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    if height < 1 or width < 1:
        raise LayerlabError(f"size must be positive (height, width), got {size}")
    return int(height), int(width)


# --- sources: a folder, a tar archive or a zip archive -------------------------------------------


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _items(source: Path, split: str, max_bytes: int) -> Iterator[Item]:
    if source.is_dir():
        return _folder_items(source / split, source)
    if not is_archive(source):
        raise LayerlabError(f"expected a folder or a {'/'.join(ARCHIVE_SUFFIXES)} archive, got {source}")
    if source.name.lower().endswith(".zip"):
        return _zip_items(source, split, max_bytes)
    return _tar_items(source, split, max_bytes)


def check_member_size(archive: Path, name: str, size: int, max_bytes: int) -> None:
    """Refuse a member whose header declares more than `max_bytes`, before any of its data is read:
    reading it would hold it whole in memory, and skipping it would decompress all of it."""
    if size > max_bytes:
        raise LayerlabError(
            f"{archive.name}: member {name!r} declares {size:,} bytes, over the limit of {max_bytes:,} for one "
            "image; pass max_image_bytes=N to read larger images"
        )


def _folder_items(folder: Path, source: Path) -> Iterator[Item]:
    if not folder.is_dir():
        raise LayerlabError(f"no {folder.name}/ folder in {folder.parent} (expected {folder.name}/<class>/*.png|jpg)")
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        for file in sorted(class_dir.iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES and file.is_file():
                yield class_dir.name, file.relative_to(source).as_posix(), file  # named as in the folder: runs travel


def _member_class(archive: Path, name: str, split: str) -> str | None:
    """The class of an archive member named `[top/]split/class/file.jpg`, None for anything else."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        # harmless here (nothing is written to disk) but never legitimate: refuse the archive
        raise LayerlabError(f"{archive.name} has an unsafe member name {name!r}; refusing to read it")
    parts = [p for p in path.parts if p != "."]
    if len(parts) < 3 or parts[-3] != split or path.suffix.lower() not in IMAGE_SUFFIXES:
        return None
    return parts[-2]


def _tar_items(archive: Path, split: str, max_bytes: int) -> Iterator[Item]:
    # "r|*" streams through the (compressed) file once; members are read into memory, never to disk
    try:
        with tarfile.open(archive, "r|*") as tar:
            for member in tar:
                if member.isfile():  # any member, not only this split's: skipping one reads it too
                    check_member_size(archive, member.name, member.size, max_bytes)
                label = _member_class(archive, member.name, split)
                if label is not None and member.isfile():  # links, devices and folders are skipped
                    yield label, f"{archive.name}:{member.name}", tar.extractfile(member).read()  # type: ignore[union-attr]
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise LayerlabError(f"cannot read {archive}: {error} (expected a .tar/.tar.gz of class folders)") from None


def _zip_items(archive: Path, split: str, max_bytes: int) -> Iterator[Item]:
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
                label = _member_class(archive, info.filename, split)
                if label is not None and not info.is_dir() and not is_link:
                    # zipfile stops at the declared size, so checking the declaration bounds the read
                    check_member_size(archive, info.filename, info.file_size, max_bytes)
                    yield label, f"{archive.name}:{info.filename}", zf.read(info)
    except (zipfile.BadZipFile, OSError) as error:
        raise LayerlabError(f"cannot read {archive}: {error} (expected a .zip of class folders)") from None


# --- decoding --------------------------------------------------------------------------------------


def _decode(name: str, encoded: bytes | Path, channels: int | None, size: Size | None) -> np.ndarray:
    """One image file -> (H, W) for grayscale or (H, W, 3) for RGB, uint8."""
    try:
        with open_image(io.BytesIO(encoded) if isinstance(encoded, bytes) else encoded, name) as image:
            gray = channels == 1 or (channels is None and image.mode in GRAY_MODES)
            image = image.convert("L" if gray else "RGB")
            if size is not None:
                image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)  # PIL wants (W, H)
            return np.asarray(image, dtype=np.uint8)
    except Image.UnidentifiedImageError:
        raise LayerlabError(f"cannot decode image {name}: not a readable PNG or JPEG file") from None
    except (OSError, SyntaxError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise LayerlabError(f"cannot decode image {name}: {reason}") from None


def _join(blocks: list[np.ndarray], first_names: list[str]) -> np.ndarray:
    """Blocks of images (n, H, W, C) -> one (N, H, W, C); gray blocks get 3 equal channels if any is RGB.

    `first_names[i]` names block i's first image: within a block all sizes agree, so an odd-sized
    block's first image is an odd-sized file, and the error can name it.
    """
    height, width = blocks[0].shape[1:3]
    for block, name in zip(blocks, first_names):
        if block.shape[1:3] != (height, width):
            h, w = block.shape[1:3]
            raise LayerlabError(
                f"{name} is {h}x{w} but {first_names[0]} is {height}x{width}; pass size=(H, W) to resize all images"
            )
    channels = max(block.shape[3] for block in blocks)
    return np.concatenate([np.repeat(block, channels // block.shape[3], axis=3) for block in blocks])


def _decode_chunk(job: tuple[list[Item], int | None, Size | None]) -> tuple[list[str], list[str], np.ndarray | None, list[str]]:
    """Decode a list of images -> (their classes, their names, one block (n, H, W, C), the names of
    files that did not decode). Runs in a worker."""
    items, channels, size = job
    labels, names, images, skipped = [], [], [], []
    for label, name, encoded in items:
        try:
            image = _decode(name, encoded, channels, size)
        except LayerlabError as error:
            skipped.append(str(error))  # one corrupt file among thousands: leave it out, say why once
            continue
        labels.append(label)
        names.append(name)
        images.append(image[None] if image.ndim == 3 else image[None, :, :, None])  # (1, H, W, C)
    return labels, names, _join(images, names) if images else None, skipped


def _chunks(items: Iterator[Item], size: int) -> Iterator[list[Item]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def _decode_chunks(
    items: Iterator[Item], channels: int | None, size: Size | None, workers: int
) -> Iterator[tuple[list[str], list[str], np.ndarray | None, list[str]]]:
    first = list(itertools.islice(items, POOL_MIN_IMAGES))
    if not first:
        return
    if workers <= 1 or len(first) < POOL_MIN_IMAGES:
        yield _decode_chunk((first + list(items), channels, size))
        return
    # The pool reads the archive in its feeder thread while the workers decode the chunks already
    # read. Processes, not threads: Pillow spends most of a 32x32 decode in Python.
    jobs = ((chunk, channels, size) for chunk in _chunks(itertools.chain(first, items), 1000))
    with multiprocessing.get_context().Pool(workers) as pool:
        yield from pool.imap(_decode_chunk, jobs)


def _decode_split(
    source: Path,
    split: str,
    items: Iterator[Item],
    *,
    size: Size | None,
    channels: int | None,
    workers: int,
    classes: tuple[str, ...] | None,
) -> Decoded:
    labels: list[str] = []
    blocks, first_names, files, skipped = [], [], [], []
    for chunk_labels, names, block, unreadable in _decode_chunks(items, channels, size, workers):
        skipped += unreadable
        if names:
            labels += chunk_labels
            files += names
            blocks.append(block)
            first_names.append(names[0])
    if not labels:
        also = f" ({len(skipped)} could not be decoded, e.g. {skipped[0]})" if skipped else ""
        raise LayerlabError(f"no {'readable ' if skipped else ''}.png/.jpg images under {source} in {split}/<class>/ "
                            f"(one folder per class){also}")
    images = _join(blocks, first_names).transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    classes = classes or tuple(sorted(set(labels)))
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise LayerlabError(
            f"{source}: {split}/{unknown[0]}/ is a class the training split lacks (its classes: {', '.join(classes)}); "
            f"add train/{unknown[0]}/ or remove {split}/{unknown[0]}/"
        )
    ids = {label: i for i, label in enumerate(classes)}
    targets = np.array([ids[label] for label in labels], dtype=np.int64)
    return decoded_arrays(np.ascontiguousarray(images), targets, classes, tuple(files), tuple(skipped))


# --- the decode cache ------------------------------------------------------------------------------


def resolve_cache_dir(folder: Path | None) -> Path:
    return Path(folder) if folder is not None else cache_dir()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):  # 1 MiB at a time: flat memory for any size
            digest.update(block)
    return digest.hexdigest()


def folder_fingerprint(folder: Path, suffixes: tuple[str, ...] | None = IMAGE_SUFFIXES) -> str:
    """A hash of the sorted (relative path, size, mtime) of the files under `folder`: cheap, and any
    added, removed, resized or touched file changes it."""
    digest = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if suffixes is None or p.suffix.lower() in suffixes)
    for file in files:
        if file.is_file():
            stat = file.stat()
            digest.update(f"{file.relative_to(folder).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cache_path(cache_dir: Path | None, name: str, *key: object) -> Path:
    """Where the decoded arrays for `key` (source checksum, split, options) live."""
    digest = hashlib.sha256(repr((CACHE_VERSION, *key)).encode()).hexdigest()[:24]
    return resolve_cache_dir(cache_dir) / "decoded" / f"{name}-{digest}.npz"


def _split_cache_path(
    source: Path,
    split: str,
    size: Size | None,
    channels: int | None,
    cache_dir: Path | None,
    classes: tuple[str, ...] | None = None,
) -> Path:
    if source.is_dir():
        checksum = folder_fingerprint(source / split) if (source / split).is_dir() else "missing"
    elif source.is_file():
        checksum = file_sha256(source)
    else:
        raise LayerlabError(f"{source} does not exist (expected a folder of class folders or an archive of them)")
    stem = source.name.split(".")[0] or "images"
    # the class ids are part of what is cached: other training classes, other targets
    key = (checksum, split, size, channels) if classes is None else (checksum, split, size, channels, classes)
    return cache_path(cache_dir, f"{stem}-{split}", *key)


def load_cached(path: Path, build: Callable[[], Decoded]) -> Decoded:
    """The arrays saved at `path`, or `build()` them once and save them there atomically."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            return Decoded(
                saved["inputs"], saved["targets"], tuple(str(c) for c in saved["classes"]),
                tuple(saved["mean"].tolist()), tuple(saved["std"].tolist()),
                tuple(str(f) for f in saved["files"]), tuple(str(f) for f in saved["skipped"]),
            )
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        pass  # missing or damaged: rebuild it
    data = build()
    _save_atomically(path, data)
    return data


def load_cached_summary(
    path: Path, build: Callable[[], Decoded]
) -> tuple[tuple[str, ...], tuple[float, ...], tuple[float, ...]]:
    """(classes, mean, std) saved at `path` (a .npz reads only the members asked for), else from `build()`."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            classes = tuple(str(c) for c in saved["classes"])
            return classes, tuple(saved["mean"].tolist()), tuple(saved["std"].tolist())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        data = build()  # builds and caches the whole split: the next read of it is then free
        return data.classes, data.mean, data.std


def _save_atomically(path: Path, data: Decoded) -> None:
    # one atomic write (layerlab.files): a reader never sees a half-written cache, even if we are killed
    buffer = io.BytesIO()
    np.savez(
        buffer, inputs=data.inputs, targets=data.targets, classes=np.array(data.classes, dtype=str),
        mean=np.array(data.mean), std=np.array(data.std),
        files=np.array(data.files, dtype=str), skipped=np.array(data.skipped, dtype=str),
    )
    try:
        atomic_write_bytes(path, buffer.getbuffer())
    except OSError:
        pass  # a read-only cache only costs a second decode next time
