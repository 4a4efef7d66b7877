"""A local MNIST or Fashion-MNIST copy of the published size is checked by the md5 of its unpacked
bytes, so clothes are not trained as digits (issue 11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerlab.data import get_dataset
from layerlab.data.mnist import FASHION_FILES, MNIST_FILES, unpacked_md5
from layerlab.errors import LayerlabError
from helpers.fake_files import write_fake_mnist

FASHION_SYSTEM = Path("/usr/share/datasets/fashion-mnist")


def test_fashion_files_passed_as_mnist_are_one_line_naming_the_mismatch(tmp_path):
    if not (FASHION_SYSTEM / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (tmp_path / name).symlink_to(FASHION_SYSTEM / name)
    with pytest.raises(LayerlabError) as error:
        get_dataset("mnist", split="test", root=tmp_path)
    assert str(error.value) == (f"{tmp_path / 't10k-images-idx3-ubyte.gz'} is fashion-mnist's t10k-images-idx3-ubyte.gz, "
                                "not mnist's (md5 of its unpacked bytes 8181f5470baa50b63fa0f6fddb340f0a): pass "
                                "--dataset fashion-mnist, or a --data-dir holding the mnist files")
    # the same files as what they are: read, and checked once per process however often they are read
    before = unpacked_md5.cache_info()
    for _ in range(2):
        assert len(get_dataset("fashion-mnist", split="test", root=tmp_path)) == 10_000
    after = unpacked_md5.cache_info()
    # the images were hashed by the mnist attempt above, the labels by the first read: each file once
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 3)


def test_a_full_size_copy_that_matches_nothing_is_damaged(tmp_path):
    write_fake_mnist(tmp_path, {"test": 10_000}, gz=False)    # the published size, other bytes
    with pytest.raises(LayerlabError, match=r"t10k-images-idx3-ubyte does not match the published mnist "
                                            r"t10k-images-idx3-ubyte.gz \(md5 of its unpacked bytes [0-9a-f]{32}, "
                                            r"published 2646ac647ad5339dbf082846283269ea\): a damaged or different copy"):
        get_dataset("mnist", split="test", root=tmp_path)


def test_a_small_copy_is_left_to_the_readers_structure_checks(tmp_path):
    write_fake_mnist(tmp_path, {"test": 4})
    assert len(get_dataset("mnist", split="test", root=tmp_path)) == 4


def test_the_registry_holds_the_published_md5s_of_both_sets():
    # the .gz md5s torchvision checks, and the unpacked files' md5s published beside them
    assert [s.md5 for s in MNIST_FILES["train"] + MNIST_FILES["test"]] == [
        "f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
        "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"]
    assert [s.raw_md5 for s in FASHION_FILES["train"] + FASHION_FILES["test"]] == [
        "f4a8712d7a061bf5bd6d2ca38dc4d50a", "9018921c3c673c538a1fc5bad174d6f9",
        "8181f5470baa50b63fa0f6fddb340f0a", "15d484375f8d13e6eb1aabb0c3f46965"]


def test_the_real_mnist_copy_passes(shared_datasets):
    assert len(get_dataset("mnist", split="test", root=shared_datasets / "mnist")) == 10_000
