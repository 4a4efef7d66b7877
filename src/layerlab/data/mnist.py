"""MNIST and Fashion-MNIST: four IDX files each, read with `layerlab.data.idx`.

Both sets have 60,000 training and 10,000 test images of 28x28 grey pixels in 10 classes, and the
same file names, so a folder should hold one of them (or use FOLDER/mnist/ and
FOLDER/fashion-mnist/). Images stay uint8 (N, 1, 28, 28); `meta["mean"]`/`meta["std"]` are the
training-set pixel statistics on the 0..1 scale, for `transforms.float_normalize`.

Checksums are the published md5s of the .gz files (the same values torchvision checks) and of
their unpacked bytes (`raw_md5`, published beside them). Debian's `dataset-fashion-mnist` package
installs the four files under /usr/share/datasets/fashion-mnist/ with the upstream names, but
re-compressed: their .gz md5s differ from the published ones while the unpacked bytes are
identical. So every local copy of the published size is checked by its unpacked bytes
(`check_copy`): a Fashion-MNIST folder passed as MNIST is one line, not digits learned from
clothes. A smaller file (a test's tiny copy, a subset) is left to the reader's structure checks.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import subprocess
import zlib
from pathlib import Path

import torch

from layerlab.data.download import FileSpec, locate
from layerlab.data.idx import read_idx
from layerlab.data.registry import register_dataset
from layerlab.data.tensors import TensorData
from layerlab.errors import LayerlabError

MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_PACKAGE_HINT = "install Debian's copy: `apt-get install dataset-fashion-mnist`"

# split -> (images file, labels file); the published .gz md5s (and sha256s where MANIFEST.md has them)
MNIST_FILES = {
    "train": (
        FileSpec(
            "train-images-idx3-ubyte.gz",
            MNIST_URL + "train-images-idx3-ubyte.gz",
            sha256="440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            md5="f68b3c2dcbeaaa9fbdd348bbdeb94873",
            raw_md5="6bbc9ace898e44ae57da46a324031adb", raw_size=47_040_016,
            aliases=("train-images.idx3-ubyte",),  # the name some mirrors and packages use
        ),
        FileSpec(
            "train-labels-idx1-ubyte.gz",
            MNIST_URL + "train-labels-idx1-ubyte.gz",
            sha256="3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            md5="d53e105ee54ea40749a09fcbcd1e9432",
            raw_md5="a25bea736e30d166cdddb491f175f624", raw_size=60_008,
            aliases=("train-labels.idx1-ubyte",),
        ),
    ),
    "test": (
        FileSpec(
            "t10k-images-idx3-ubyte.gz",
            MNIST_URL + "t10k-images-idx3-ubyte.gz",
            sha256="8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            md5="9fb629c4189551a2d022fa330f9573f3",
            raw_md5="2646ac647ad5339dbf082846283269ea", raw_size=7_840_016,
            aliases=("t10k-images.idx3-ubyte",),
        ),
        FileSpec(
            "t10k-labels-idx1-ubyte.gz",
            MNIST_URL + "t10k-labels-idx1-ubyte.gz",
            sha256="f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            md5="ec29112dd5afa0611ce80d1b7f02629c",
            raw_md5="27ae3e4e09519cfbb04c329615203637", raw_size=10_008,
            aliases=("t10k-labels.idx1-ubyte",),
        ),
    ),
}

FASHION_FILES = {
    "train": (
        FileSpec("train-images-idx3-ubyte.gz", FASHION_URL + "train-images-idx3-ubyte.gz",
                 md5="8d4fb7e6c68d591d4c3dfef9ec88bf0d", raw_md5="f4a8712d7a061bf5bd6d2ca38dc4d50a",
                 raw_size=47_040_016),
        FileSpec("train-labels-idx1-ubyte.gz", FASHION_URL + "train-labels-idx1-ubyte.gz",
                 md5="25c81989df183df01b3e8a0aad5dffbe", raw_md5="9018921c3c673c538a1fc5bad174d6f9",
                 raw_size=60_008),
    ),
    "test": (
        FileSpec("t10k-images-idx3-ubyte.gz", FASHION_URL + "t10k-images-idx3-ubyte.gz",
                 md5="bef4ecab320f06d8554ea6380940ec79", raw_md5="8181f5470baa50b63fa0f6fddb340f0a",
                 raw_size=7_840_016),
        FileSpec("t10k-labels-idx1-ubyte.gz", FASHION_URL + "t10k-labels-idx1-ubyte.gz",
                 md5="bb300cfdad3c16e7a12a480ee83cd310", raw_md5="15d484375f8d13e6eb1aabb0c3f46965",
                 raw_size=10_008),
    ),
}

FILE_SETS = {"mnist": MNIST_FILES, "fashion-mnist": FASHION_FILES}

DIGIT_CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@functools.lru_cache(maxsize=1)
def fashion_system_dirs() -> tuple[Path, ...]:
    """Folders where Debian's dataset-fashion-mnist package put its IDX files (may be empty).

    Asks `dpkg -L` first, so a relocated install is found too; quietly empty without dpkg.
    """
    folders: list[Path] = []
    try:
        listing = subprocess.run(
            ["dpkg", "-L", "dataset-fashion-mnist"], capture_output=True, text=True, timeout=10, check=False
        )
        if listing.returncode == 0:
            folders += [Path(line).parent for line in listing.stdout.splitlines() if "-ubyte" in line]
    except (OSError, subprocess.SubprocessError):  # no dpkg (not Debian), or it hung
        pass
    folders.append(FASHION_DEBIAN_DIR)
    return tuple(dict.fromkeys(folders))


def read_idx_pair(name: str, images_path: Path, labels_path: Path, classes: tuple[str, ...]) -> TensorData:
    """Images (N, 28, 28) + labels (N,) from two IDX files -> uint8 (N, 1, 28, 28) and int64 (N,)."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != torch.uint8 or images.dim() != 3:
        raise LayerlabError(
            f"{images_path}: expected uint8 images (N, H, W), got {images.dtype} {tuple(images.shape)}"
        )
    if labels.dim() != 1:
        raise LayerlabError(f"{labels_path}: expected labels of shape (N,), got {tuple(labels.shape)}")
    if len(images) != len(labels):
        raise LayerlabError(f"{name}: {images_path.name} has {len(images)} images but {labels_path.name} "
                            f"has {len(labels)} labels")
    targets = labels.long()
    if len(targets) and not 0 <= int(targets.min()) <= int(targets.max()) < len(classes):
        raise LayerlabError(f"{labels_path}: labels must lie in 0..{len(classes) - 1}, "
                            f"found {int(targets.min())}..{int(targets.max())}")
    return TensorData(images.unsqueeze(1), targets, classes, name)  # (N, 1, 28, 28)


def unpacked_size(path: Path) -> int:
    """The size of the file's bytes once unpacked: a .gz stores it (mod 2**32) in its last 4 bytes."""
    if path.suffix != ".gz":
        return path.stat().st_size
    with path.open("rb") as f:
        f.seek(-4, 2)
        return int.from_bytes(f.read(4), "little")


@functools.lru_cache(maxsize=16)
def unpacked_md5(path: str, size: int, mtime_ns: int) -> str | None:
    """md5 of the unpacked bytes, computed once per file version (size and mtime are the cache key);
    None for a .gz that does not unpack (the reader then says what is wrong with it)."""
    try:
        data = Path(path).read_bytes()
        return hashlib.md5(gzip.decompress(data) if path.endswith(".gz") else data).hexdigest()
    except (OSError, EOFError, zlib.error):
        return None


def check_copy(name: str, path: Path, spec: FileSpec, others: dict[str, FileSpec]) -> None:
    """A full-size local copy must be the published file: one line if it is another dataset's
    (`others`: dataset -> its spec of the same file) or matches nothing."""
    if spec.raw_md5 is None or unpacked_size(path) != spec.raw_size:
        return
    stat = path.stat()
    digest = unpacked_md5(str(path), stat.st_size, stat.st_mtime_ns)
    if digest is None or digest == spec.raw_md5:
        return
    same = [other for other, other_spec in others.items() if other_spec.raw_md5 == digest]
    if same:
        raise LayerlabError(f"{path} is {same[0]}'s {spec.filename}, not {name}'s (md5 of its unpacked bytes "
                            f"{digest}): pass --dataset {same[0]}, or a --data-dir holding the {name} files")
    raise LayerlabError(f"{path} does not match the published {name} {spec.filename} (md5 of its unpacked bytes "
                        f"{digest}, published {spec.raw_md5}): a damaged or different copy; fetch it again")


def _read(name: str, files: dict, classes: tuple[str, ...], root: Path | None, split: str, *,
          system_dirs: tuple[Path, ...] = (), download: bool = True, hint: str = "") -> TensorData:
    images_spec, labels_spec = files[split]
    paths = locate(name, [images_spec, labels_spec], root, system_dirs=system_dirs, allow_download=download, hint=hint)
    for i, spec in enumerate((images_spec, labels_spec)):
        others = {other: sets[split][i] for other, sets in FILE_SETS.items() if other != name}
        check_copy(name, paths[spec.filename], spec, others)
    return read_idx_pair(name, paths[images_spec.filename], paths[labels_spec.filename], classes)


@register_dataset(
    "mnist",
    task="classification",
    input_shape=(1, 28, 28),
    num_classes=10,
    splits=("train", "test"),
    description="handwritten digits 0-9: 60,000 train / 10,000 test 28x28 grey images (LeCun et al., 1998)",
    files="train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
    "t10k-labels-idx1-ubyte.gz (or unpacked) in --data-dir",
)
def mnist(root: Path | None = None, split: str = "train", download: bool = True) -> TensorData:
    """Digits 0-9; `download=False` keeps it offline (then a missing file is a one-line error)."""
    data = _read("mnist", MNIST_FILES, DIGIT_CLASSES, root, split, download=download)
    data.meta.update({"mean": (0.1307,), "std": (0.3081,)})
    return data


@register_dataset(
    "fashion-mnist",
    task="classification",
    input_shape=(1, 28, 28),
    num_classes=10,
    splits=("train", "test"),
    description="Zalando's clothing images in 10 classes: 60,000 train / 10,000 test 28x28 grey images "
    "(Xiao et al., 2017)",
    files="the four Fashion-MNIST *-ubyte.gz files in --data-dir (or FOLDER/fashion-mnist/), "
    "or `apt-get install dataset-fashion-mnist`",
)
def fashion_mnist(root: Path | None = None, split: str = "train", download: bool = True) -> TensorData:
    """Clothing in 10 classes, same format as MNIST; also found in Debian's package copy."""
    data = _read("fashion-mnist", FASHION_FILES, FASHION_CLASSES, root, split, system_dirs=fashion_system_dirs(),
                 download=download, hint=FASHION_PACKAGE_HINT)
    data.meta.update({"mean": (0.2860,), "std": (0.3530,)})
    return data
