"""The IDX format byte by byte, and the MNIST / Fashion-MNIST readers on tiny files written here."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
import torch
from helpers.fake_files import write_fake_mnist

from layerlab.data import get_dataset
from layerlab.data.idx import read_idx, write_idx
from layerlab.data import mnist
from layerlab.data.mnist import FASHION_CLASSES, FASHION_DEBIAN_DIR, fashion_system_dirs
from layerlab.errors import LayerlabError


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty private cache and no LAYERLAB_DATA, so only the files a test writes are found."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LAYERLAB_DATA", raising=False)


# --- the IDX format ----------------------------------------------------------------------------


def test_idx_header_is_magic_type_ndim_then_big_endian_sizes(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "x.idx", torch.arange(6, dtype=torch.uint8).reshape(2, 3))
    assert path.read_bytes() == bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 1, 2, 3, 4, 5])


def test_multi_byte_values_are_read_as_big_endian(tmp_path: Path) -> None:
    # written by hand, not by write_idx: int16 values 1, -2, 300 in big-endian order
    path = tmp_path / "hand.idx"
    path.write_bytes(bytes([0, 0, 0x0B, 1]) + struct.pack(">I", 3) + struct.pack(">3h", 1, -2, 300))
    assert read_idx(path).tolist() == [1, -2, 300]
    assert read_idx(path).dtype == torch.int16


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.int16, torch.int32, torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["t.idx", "t.idx.gz"])
def test_write_then_read_gives_back_the_same_tensor(tmp_path: Path, dtype: torch.dtype, name: str) -> None:
    values = (torch.arange(24) - 7).reshape(2, 3, 4)
    tensor = (values * 1.5).to(dtype) if dtype.is_floating_point else values.to(dtype)
    back = read_idx(write_idx(tmp_path / name, tensor))
    assert back.dtype == dtype and back.shape == (2, 3, 4)
    assert torch.equal(back, tensor)
    assert (tmp_path / name).read_bytes()[:2] == (b"\x1f\x8b" if name.endswith(".gz") else b"\x00\x00")


def test_bad_magic_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(b"PK\x03\x04 this is a zip, not IDX")
    with pytest.raises(LayerlabError, match="not an IDX file: expected magic 0x0000 .* got 504b0304"):
        read_idx(path)
    path.write_bytes(bytes([0, 0, 0x0A, 1, 0, 0, 0, 0]))  # 0x0A is not a type code
    with pytest.raises(LayerlabError, match="not an IDX file"):
        read_idx(path)
    path.write_bytes(b"")
    with pytest.raises(LayerlabError, match="got an empty file"):
        read_idx(path)


def test_truncated_and_over_long_files_are_clear_errors(tmp_path: Path) -> None:
    raw = write_idx(tmp_path / "full.idx", torch.zeros(10, 28, 28, dtype=torch.uint8)).read_bytes()
    cut = tmp_path / "cut.idx"
    cut.write_bytes(raw[:-100])
    expected = r"truncated IDX file: shape \(10, 28, 28\) needs 7840 data bytes, found 7740"
    with pytest.raises(LayerlabError, match=expected):
        read_idx(cut)
    cut.write_bytes(raw[:10])  # inside the three 4-byte sizes
    with pytest.raises(LayerlabError, match="truncated IDX header: 3 dimensions need 16 bytes, file has 10"):
        read_idx(cut)
    cut.write_bytes(raw + b"\x00")
    with pytest.raises(LayerlabError, match="over-long IDX file"):
        read_idx(cut)
    cut.write_bytes(gzip.compress(raw)[:-20])  # a download cut off mid-stream
    with pytest.raises(LayerlabError, match="damaged gzip file"):
        read_idx(cut)


# --- MNIST and Fashion-MNIST readers -----------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_reads_both_splits_from_the_users_folder(tmp_path: Path, gz: bool) -> None:
    written = write_fake_mnist(tmp_path / "data", {"train": 6, "test": 4}, gz=gz)
    for split, (images, labels) in written.items():
        data = get_dataset("mnist", split, root=tmp_path / "data", download=False)
        assert data.inputs.dtype == torch.uint8 and data.inputs.shape == (len(labels), 1, 28, 28)
        assert data.targets.dtype == torch.int64
        assert torch.equal(data.inputs[:, 0], images) and torch.equal(data.targets, labels.long())
        assert data.classes == tuple("0123456789") and data.name == "mnist"
        assert data.meta == {"mean": (0.1307,), "std": (0.3081,)}


def test_fashion_mnist_prefers_its_own_subfolder_over_shared_file_names(tmp_path: Path) -> None:
    root = tmp_path / "data"
    mnist_files = write_fake_mnist(root, {"test": 3}, seed=1)  # MNIST in FOLDER/ itself
    fashion_files = write_fake_mnist(root / "fashion-mnist", {"test": 5}, seed=2)
    fashion = get_dataset("fashion-mnist", "test", root=root, download=False)
    assert torch.equal(fashion.inputs[:, 0], fashion_files["test"][0])
    assert fashion.classes == FASHION_CLASSES and fashion.classes[9] == "Ankle boot"
    assert fashion.meta == {"mean": (0.2860,), "std": (0.3530,)}
    assert torch.equal(get_dataset("mnist", "test", root=root).inputs[:, 0], mnist_files["test"][0])


def test_mnist_accepts_the_dotted_file_names_of_some_mirrors(tmp_path: Path) -> None:
    images = torch.full((2, 28, 28), 7, dtype=torch.uint8)
    write_idx(tmp_path / "t10k-images.idx3-ubyte", images)
    write_idx(tmp_path / "t10k-labels.idx1-ubyte", torch.tensor([3, 9], dtype=torch.uint8))
    data = get_dataset("mnist", "test", root=tmp_path, download=False)
    assert data.targets.tolist() == [3, 9] and int(data.inputs.sum()) == 7 * 2 * 28 * 28


def test_mnist_reports_inconsistent_files(tmp_path: Path) -> None:
    write_fake_mnist(tmp_path, {"test": 4})
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", torch.tensor([1, 2, 3], dtype=torch.uint8))
    with pytest.raises(LayerlabError, match="has 4 images but t10k-labels-idx1-ubyte.gz has 3 labels"):
        get_dataset("mnist", "test", root=tmp_path, download=False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", torch.tensor([1, 2, 3, 10], dtype=torch.uint8))
    with pytest.raises(LayerlabError, match=r"labels must lie in 0\.\.9, found 1\.\.10"):
        get_dataset("mnist", "test", root=tmp_path, download=False)
    with pytest.raises(LayerlabError, match="mnist has splits train, test; got 'val'"):
        get_dataset("mnist", "val", root=tmp_path)


def test_mnist_offline_with_no_files_names_the_files_to_put_where(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LAYERLAB_DATA", raising=False)
    with pytest.raises(LayerlabError) as info:
        get_dataset("mnist", "test", root=tmp_path, download=False)
    assert str(info.value) == (
        "mnist: put t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz into a folder and pass "
        f"--data-dir FOLDER (or put them in {tmp_path / 'xdg' / 'layerlab' / 'mnist'}) (downloads are turned off)"
    )


def test_fashion_mnist_with_no_copy_names_the_debian_package_and_data_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(mnist, "fashion_system_dirs", lambda: ())  # a fresh machine: the package is absent

    def offline(url: str, dest: Path, **kwargs: object) -> Path:
        raise LayerlabError(f"download {url}: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("layerlab.data.download.download", offline)
    for download in (False, True):
        with pytest.raises(LayerlabError) as info:
            get_dataset("fashion-mnist", "test", download=download)
        message = str(info.value)
        assert "\n" not in message and message.startswith(
            "fashion-mnist: put t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz into a folder and pass --data-dir FOLDER"
        )
        assert ", or install Debian's copy: `apt-get install dataset-fashion-mnist` (" in message


def test_fashion_system_dirs_asks_dpkg_and_keeps_the_known_folder(tmp_path: Path, monkeypatch) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    dpkg = fake_bin / "dpkg"  # a stand-in that lists the package's files somewhere unusual
    dpkg.write_text("#!/bin/sh\necho /.\necho /opt/share/fmnist/train-images-idx3-ubyte.gz\n"
                    "echo /usr/share/doc/dataset-fashion-mnist/copyright\n")
    dpkg.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake_bin))
    fashion_system_dirs.cache_clear()
    try:
        assert fashion_system_dirs() == (Path("/opt/share/fmnist"), FASHION_DEBIAN_DIR)
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no dpkg at all: quietly the known folder
        fashion_system_dirs.cache_clear()
        assert fashion_system_dirs() == (FASHION_DEBIAN_DIR,)
    finally:
        fashion_system_dirs.cache_clear()


# --- the real files ----------------------------------------------------------------------------


def test_real_mnist_test_split_has_the_published_counts(shared_datasets: Path) -> None:
    data = get_dataset("mnist", "test", root=shared_datasets / "mnist", download=False)
    assert data.inputs.shape == (10_000, 1, 28, 28)
    # label counts of the 10,000 test digits, as listed in MANIFEST.md
    assert torch.bincount(data.targets).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.skipif(not (FASHION_DEBIAN_DIR / "t10k-labels-idx1-ubyte.gz").exists(),
                    reason="Debian's dataset-fashion-mnist package is not installed")
def test_fashion_mnist_is_found_in_the_debian_package_copy() -> None:
    data = get_dataset("fashion-mnist", "test", download=False)
    assert data.inputs.shape == (10_000, 1, 28, 28)
    assert torch.bincount(data.targets).tolist() == [1000] * 10  # Fashion-MNIST is balanced
