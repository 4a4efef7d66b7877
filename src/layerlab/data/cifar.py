"""CIFAR-10 (Krizhevsky, 2009): 60,000 32x32 colour images in 10 classes, 6,000 per class.

Accepted copies, looked for in each folder of the usual order (`download.find_copy`: --data-dir,
$LAYERLAB_DATA/cifar10 or $LAYERLAB_DATA/cifar10-jpg, the cache, ...):
- `cifar-10-batches-py/` (the official python version, extracted): data_batch_1..5 and test_batch;
- `cifar-10-python.tar.gz`, the official archive itself (read in memory, never unpacked);
- `train/<class>/*.jpg` and `test/<class>/*.jpg` class folders (e.g. ../shared/datasets/cifar10-jpg
  unpacked), or `cifar10-jpg.tar.gz` holding them. JPEG is lossy: pixels differ slightly from
  the official ones, and the mean and std with them (train mean 0.4913 instead of 0.4914);
- `root` may also be one of those archives itself.
With no copy anywhere, the official archive is downloaded into the cache (md5-checked).

Whatever the source, it is read once and cached as uint8 arrays (see `layerlab.data.images`).
`meta["mean"]`, `meta["std"]` are the per-channel statistics of the TRAINING split, computed from
the pixels, so the test split is normalised with the numbers the model was trained with.
"""

from __future__ import annotations

import codecs
import io
import pickle
import tarfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

from layerlab.data import images
from layerlab.data.download import FileSpec, find_copy, locate
from layerlab.data.registry import register_dataset
from layerlab.data.tensors import TensorData
from layerlab.errors import LayerlabError

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"  # published on the CIFAR page
PYTHON_ARCHIVE = "cifar-10-python.tar.gz"
PYTHON_FOLDER = "cifar-10-batches-py"
JPG_ARCHIVE = "cifar10-jpg.tar.gz"
MAX_MEMBER_BYTES = 64 * 2**20  # an official batch is 31,035,704 bytes; more is a forged or foreign archive
BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
ARCHIVE = FileSpec(PYTHON_ARCHIVE, URL, md5=MD5)
FILES = f"put {PYTHON_ARCHIVE} ({URL}) or {JPG_ARCHIVE} in a folder and pass it as --data-dir"


@register_dataset(
    "cifar10",
    task="classification",
    input_shape=(3, 32, 32),
    num_classes=10,
    splits=("train", "test"),
    description="CIFAR-10: 32x32 colour photos of 10 classes, airplane..truck (50,000 train / 10,000 test)",
    files=FILES,
)
def cifar10(root: Path | None = None, split: str = "train", cache_dir: Path | None = None) -> TensorData:
    """One split as uint8 images (N, 3, 32, 32) and labels 0..9 in the order of `CLASSES`."""
    kind, source = _copy(root)
    data = _load(kind, source, split, cache_dir)
    if split == "train":
        mean, std = data.mean, data.std
    elif kind == "images":
        _, mean, std = images.load_summary(source, "train", channels=3, cache_dir=cache_dir)
    else:
        path = _python_cache_path(source, "train", cache_dir)
        _, mean, std = images.load_cached_summary(path, lambda: _load(kind, source, "train", cache_dir))
    return data.to_tensor_data("cifar10", {"mean": mean, "std": std, "source": str(source)})


# --- where the copy is ---------------------------------------------------------------------------


def _find(root: Path) -> tuple[str, Path] | None:
    """("python" | "images", path) of the first CIFAR-10 copy at `root`, None if there is none."""
    if root.is_file():
        return ("python" if root.name.startswith("cifar-10-python") else "images"), root
    if not root.is_dir():
        return None
    if (root / "data_batch_1").is_file():  # root is the extracted python folder itself
        return "python", root
    for kind, path in (("python", root / PYTHON_FOLDER), ("python", root / PYTHON_ARCHIVE)):
        if path.exists():
            return kind, path
    if (root / "train").is_dir() and (root / "test").is_dir():
        return "images", root
    if (root / JPG_ARCHIVE).is_file():
        return "images", root / JPG_ARCHIVE
    return None


def _copy(root: Path | None) -> tuple[str, Path]:
    """The first CIFAR-10 copy in the usual order (download.find_copy), else the official archive,
    downloaded into the cache with its published md5."""
    found = find_copy("cifar10", root, _find, folder_names=(JPG_ARCHIVE.removesuffix(".tar.gz"),))
    if found is not None:
        return found
    hint = f"use {JPG_ARCHIVE} (the same images as class folders of JPEGs) the same way"
    return "python", locate("cifar10", [ARCHIVE], root, hint=hint)[PYTHON_ARCHIVE]


# --- reading it ----------------------------------------------------------------------------------


def _load(kind: str, source: Path, split: str, cache_dir: Path | None) -> images.Decoded:
    if kind == "python":
        path = _python_cache_path(source, split, cache_dir)
        return images.load_cached(path, lambda: _read_python(source, split))
    data = images.load_split(source, split, channels=3, cache_dir=cache_dir)
    if data.classes != CLASSES:
        raise LayerlabError(f"{source}: expected the class folders {', '.join(CLASSES)}; found {', '.join(data.classes)}")
    if data.inputs.shape[1:] != (3, 32, 32):
        raise LayerlabError(f"{source}: expected 32x32 images, found {data.inputs.shape[2]}x{data.inputs.shape[3]}")
    return data


def _python_cache_path(source: Path, split: str, cache_dir: Path | None) -> Path:
    # the archive: its sha256; the extracted folder: a hash of its files' names, sizes and times
    checksum = images.file_sha256(source) if source.is_file() else images.folder_fingerprint(source, None)
    return images.cache_path(cache_dir, f"cifar10-python-{split}", checksum, split)


def _read_python(source: Path, split: str) -> images.Decoded:
    """The official batches: each a pickled dict whose b"data" is (10000, 3072) uint8 = R, G, B planes."""
    names = BATCHES[split]
    blobs = _batch_bytes(source, names)
    batches = [_unpickle(blobs[name], name) for name in names]
    inputs = np.concatenate([data for data, _ in batches]).reshape(-1, 3, 32, 32)  # (N, 3072) -> (N, 3, 32, 32)
    targets = np.concatenate([labels for _, labels in batches])
    return images.decoded_arrays(np.ascontiguousarray(inputs), targets, CLASSES)


def _batch_bytes(source: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    if source.is_dir():
        blobs = {name: (source / name).read_bytes() for name in names if (source / name).is_file()}
    else:
        blobs = {}
        try:
            with tarfile.open(source, "r|*") as tar:  # streamed member by member, in memory
                for member in tar:
                    if member.isfile() and member.size > MAX_MEMBER_BYTES:  # checked before a byte is read
                        raise LayerlabError(f"{source.name}: member {member.name!r} declares {member.size:,} bytes; "
                                            f"an official CIFAR-10 batch has about 31 MB")
                    name = PurePosixPath(member.name).name
                    if name in names and member.isfile():
                        blobs[name] = tar.extractfile(member).read()  # type: ignore[union-attr]
        except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
            raise LayerlabError(f"cannot read {source}: {error} (expected the official {PYTHON_ARCHIVE})") from None
    missing = [name for name in names if name not in blobs]
    if missing:
        raise LayerlabError(f"{source} lacks {', '.join(missing)} (expected the official {PYTHON_FOLDER} files)")
    return blobs


_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's array rebuilder, wherever this numpy keeps it
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,  # arrays pickled by numpy 1.x (the official files)
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,  # ... and by numpy 2.x
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # how Python 3 writes bytes in a protocol-2 pickle (re-saved batches)
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR batch and nothing else: a pickle may name any function to call, so only
    the numpy pieces that rebuild an array are allowed; anything else is refused, never run."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"{module}.{name} is not part of a CIFAR batch")
        return _ALLOWED_GLOBALS[(module, name)]


def _unpickle(blob: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        # encoding="bytes": the files were pickled by Python 2, whose str keys arrive as bytes
        batch = _BatchUnpickler(io.BytesIO(blob), encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
        reason = (str(error).splitlines() or [type(error).__name__])[0]
        raise LayerlabError(f"{name} is not a CIFAR-10 python batch: {reason}") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.shape != (len(data),):
        raise LayerlabError(f"{name}: expected (N, 3072) pixels and N labels, got {data.shape} and {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise LayerlabError(f"{name}: labels must be 0..9, found {labels.min()}..{labels.max()}")
    return data, labels
