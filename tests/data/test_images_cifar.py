"""Image folders, archives of them, the decode cache, and the cifar10 reader, on files the tests write."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from layerlab.data import get_dataset, images
from layerlab.data.cifar import CLASSES
from layerlab.errors import LayerlabError, LayerlabWarning


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    # every test gets its own empty cache: nothing read from or written to the user's ~/.cache
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def _pixels(label: int, index: int, size: tuple[int, int] = (4, 6)) -> np.ndarray:
    """A (H, W, 3) image whose red value says its class and green value its index."""
    image = np.zeros((*size, 3), dtype=np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 40 * label + 10, 20 * index + 5, np.arange(size[1]) * 30
    return image


def _write_folder(root: Path, classes=("cat", "ant", "bee"), per_class=(2, 3, 1), split="train") -> None:
    # classes written out of order on purpose: labels must follow the sorted names
    for name, count in zip(classes, per_class):
        folder = root / split / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            label = sorted(classes).index(name)
            Image.fromarray(_pixels(label, i)).save(folder / f"{i:02d}.png")  # PNG: lossless


def _tar_of(folder: Path, archive: Path, extra: dict[str, bytes] | None = None) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="top")  # one top folder, as `tar czf x.tgz top/` makes
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive


# --- folders and archives ------------------------------------------------------------------------


def test_folder_gives_sorted_classes_exact_pixels_and_labels(tmp_path):
    _write_folder(tmp_path / "pets")
    data = get_dataset("image-folder", root=tmp_path / "pets", split="train")
    assert data.classes == ("ant", "bee", "cat")
    assert data.inputs.shape == (6, 3, 4, 6) and data.inputs.dtype == torch.uint8
    assert data.targets.tolist() == [0, 0, 0, 1, 2, 2]  # ant x3, bee x1, cat x2, files in name order
    assert data.targets.dtype == torch.int64
    # red encodes the class, green the file index: the pixels are the ones written, in (C, H, W)
    assert data.inputs[:, 0, 0, 0].tolist() == [10, 10, 10, 50, 90, 90]
    assert data.inputs[:, 1, 0, 0].tolist() == [5, 25, 45, 5, 5, 25]
    assert data.inputs[0, 2, 0].tolist() == [0, 30, 60, 90, 120, 150]
    # meta: the train split's per-channel mean, from the pixels
    red_mean = np.mean([10, 10, 10, 50, 90, 90]) / 255
    assert data.meta["mean"][0] == pytest.approx(red_mean)


def test_tar_gz_gives_the_same_arrays_as_the_folder_and_ignores_other_members(tmp_path):
    _write_folder(tmp_path / "pets")
    extra = {"top/README.txt": b"not an image", "top/train/notes.png": b"outside any class folder"}
    archive = _tar_of(tmp_path / "pets", tmp_path / "pets.tar.gz", extra)
    from_folder = images.load_split(tmp_path / "pets", "train")
    from_tar = images.load_split(archive, "train")
    assert from_tar.classes == from_folder.classes
    np.testing.assert_array_equal(from_tar.inputs, from_folder.inputs)
    np.testing.assert_array_equal(from_tar.targets, from_folder.targets)


def test_zip_is_read_the_same_way(tmp_path):
    _write_folder(tmp_path / "pets")
    archive = tmp_path / "pets.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted((tmp_path / "pets").rglob("*.png")):
            zf.write(file, file.relative_to(tmp_path / "pets").as_posix())
    data = images.load_split(archive, "train")
    assert data.inputs.shape == (6, 3, 4, 6) and data.targets.tolist() == [0, 0, 0, 1, 2, 2]


def test_tar_links_are_not_followed(tmp_path):
    archive = tmp_path / "links.tar"
    png = io.BytesIO()
    Image.fromarray(_pixels(0, 0)).save(png, format="PNG")
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("train/a/real.png")
        info.size = len(png.getvalue())
        tar.addfile(info, io.BytesIO(png.getvalue()))
        link = tarfile.TarInfo("train/b/link.png")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    data = images.load_split(archive, "train")
    assert data.classes == ("a",) and len(data.targets) == 1


def test_tar_with_a_path_traversal_member_is_refused(tmp_path):
    _write_folder(tmp_path / "pets")
    archive = _tar_of(tmp_path / "pets", tmp_path / "evil.tar.gz", {"../../train/cat/x.png": b"x"})
    with pytest.raises(LayerlabError, match=r"unsafe member name '\.\./\.\./train/cat/x\.png'"):
        images.load_split(archive, "train")
    assert not (tmp_path.parent / "train").exists()


def _forged_tar_gz(path: Path, name: str, declared: int) -> Path:
    """A .tar.gz whose one member's header declares `declared` bytes but carries only 512."""
    info = tarfile.TarInfo(name)
    info.size = declared
    with gzip.open(path, "wb") as f:
        f.write(info.tobuf(format=tarfile.GNU_FORMAT) + b"\x89PNG" + bytes(508))
    return path


def test_an_archive_member_declaring_a_huge_size_is_refused_before_it_is_read(tmp_path):
    archive = _forged_tar_gz(tmp_path / "forged.tar.gz", "top/train/cat/huge.png", 2**30)  # "1 GiB"
    with pytest.raises(LayerlabError) as info:
        get_dataset("image-folder", root=archive)
    assert str(info.value) == (
        "forged.tar.gz: member 'top/train/cat/huge.png' declares 1,073,741,824 bytes, over the limit of "
        "67,108,864 for one image; pass max_image_bytes=N to read larger images"
    )
    # any member counts, not only this split's images: skipping one would decompress it all the same
    _forged_tar_gz(tmp_path / "other.tar.gz", "top/README.txt", 2**30)
    with pytest.raises(LayerlabError, match="member 'top/README.txt' declares 1,073,741,824 bytes"):
        images.load_split(tmp_path / "other.tar.gz", "train")
    # with the limit raised through get_dataset, the member is read and found to be cut short
    with pytest.raises(LayerlabError, match="cannot read .*forged.tar.gz"):
        get_dataset("image-folder", root=archive, max_image_bytes=2**31)


def test_the_member_limit_applies_to_tar_and_zip_and_can_be_raised(tmp_path):
    _write_folder(tmp_path / "pets")
    tar = _tar_of(tmp_path / "pets", tmp_path / "pets.tar.gz")
    zip_path = tmp_path / "pets.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        for file in sorted((tmp_path / "pets").rglob("*.png")):
            zf.write(file, file.relative_to(tmp_path / "pets").as_posix())
    for archive in (tar, zip_path):
        with pytest.raises(LayerlabError, match=r"over the limit of 10 for one image; pass max_image_bytes=N"):
            images.load_split(archive, "train", max_image_bytes=10)
        assert images.load_split(archive, "train").targets.tolist() == [0, 0, 0, 1, 2, 2]  # 64 MiB by default


def test_cifar10_refuses_a_forged_batch_size_before_reading_it(tmp_path):
    _forged_tar_gz(tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py/data_batch_1", 2**30)
    with pytest.raises(LayerlabError, match="member 'cifar-10-batches-py/data_batch_1' declares 1,073,741,824 bytes; "
                                            "an official CIFAR-10 batch has about 31 MB"):
        get_dataset("cifar10", root=tmp_path / "cifar-10-python.tar.gz")


def test_grayscale_images_give_one_channel_and_channels_can_be_forced(tmp_path):
    for name in ("x", "y"):
        (tmp_path / "g" / "train" / name).mkdir(parents=True)
        Image.fromarray(np.full((5, 5), 77, dtype=np.uint8)).save(tmp_path / "g" / "train" / name / "0.png")
    assert images.load_split(tmp_path / "g", "train").inputs.shape == (2, 1, 5, 5)
    rgb = images.load_split(tmp_path / "g", "train", channels=3)
    assert rgb.inputs.shape == (2, 3, 5, 5) and (rgb.inputs == 77).all()
    _write_folder(tmp_path / "pets")
    gray = images.load_split(tmp_path / "pets", "train", channels=1)
    assert gray.inputs.shape == (6, 1, 4, 6)


def test_different_sizes_need_a_size_and_the_error_names_the_odd_file(tmp_path):
    _write_folder(tmp_path / "pets")
    odd = tmp_path / "pets" / "train" / "bee" / "99.png"
    Image.fromarray(_pixels(1, 0, size=(8, 3))).save(odd)
    with pytest.raises(LayerlabError) as error:
        images.load_split(tmp_path / "pets", "train")
    message = str(error.value)
    assert "\n" not in message and "99.png is 8x3" in message and "size=" in message
    resized = images.load_split(tmp_path / "pets", "train", size=(7, 9))
    assert resized.inputs.shape == (7, 3, 7, 9)


def test_a_corrupt_image_is_skipped_with_one_warning_naming_it_and_the_count(tmp_path):
    _write_folder(tmp_path / "pets")
    (tmp_path / "pets" / "train" / "ant" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    (tmp_path / "pets" / "train" / "cat" / "empty.png").write_bytes(b"")
    for attempt in ("decoded", "cached"):      # the cached arrays remember what was left out
        with pytest.warns(LayerlabWarning) as caught:
            data = get_dataset("image-folder", root=tmp_path / "pets", split="train")
        assert len(caught) == 1, attempt
        message = str(caught[0].message)
        assert message.startswith("skipped 2 unreadable images in train/:")
        assert "cannot decode image train/ant/broken.jpg: " in message
        assert "train/cat/empty.png" in message and "\n" not in message
        assert len(data) == 6 and data.targets.tolist() == [0, 0, 0, 1, 2, 2]


def test_only_corrupt_images_is_a_one_line_error_naming_one(tmp_path):
    folder = tmp_path / "pets" / "train" / "ant"
    folder.mkdir(parents=True)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    with pytest.raises(LayerlabError, match=r"no readable .*1 could not be decoded, e.g. cannot decode image train/ant/broken.jpg: "):
        images.load_split(tmp_path / "pets", "train")


def test_meta_names_every_image_and_the_names_follow_their_rows(tmp_path):
    _write_folder(tmp_path / "pets")
    data = get_dataset("image-folder", root=tmp_path / "pets", split="train")
    assert data.meta["files"] == ("train/ant/00.png", "train/ant/01.png", "train/ant/02.png", "train/bee/00.png",
                                  "train/cat/00.png", "train/cat/01.png")
    picked = data.subset(torch.tensor([5, 0]))
    assert picked.meta["files"] == ("train/cat/01.png", "train/ant/00.png")
    assert data.subset(slice(1, None, 2)).meta["files"] == ("train/ant/01.png", "train/bee/00.png", "train/cat/01.png")
    assert data.subset(data.targets == 2).meta["files"] == ("train/cat/00.png", "train/cat/01.png")
    from layerlab.data.tensors import select_classes
    assert select_classes(data, ("cat", "bee")).meta["files"] == ("train/cat/00.png", "train/cat/01.png", "train/bee/00.png")


def test_missing_split_and_empty_folder_are_one_line_errors(tmp_path):
    _write_folder(tmp_path / "pets")
    with pytest.raises(LayerlabError, match="no test/ folder"):
        get_dataset("image-folder", root=tmp_path / "pets", split="test")
    (tmp_path / "empty" / "train" / "cat").mkdir(parents=True)
    with pytest.raises(LayerlabError, match="no .png/.jpg images"):
        images.load_split(tmp_path / "empty", "train")
    with pytest.raises(LayerlabError, match=r"image-folder: no train/<class>/ folders found \(looked in .*\); pass --data-dir DIR"):
        get_dataset("image-folder")


def test_test_split_meta_carries_the_train_statistics(tmp_path):
    _write_folder(tmp_path / "pets")
    _write_folder(tmp_path / "pets", classes=("ant", "bee", "cat"), per_class=(1, 1, 1), split="test")
    train = get_dataset("image-folder", root=tmp_path / "pets", split="train")
    test = get_dataset("image-folder", root=tmp_path / "pets", split="test")
    assert test.inputs.shape == (3, 3, 4, 6) and test.targets.tolist() == [0, 1, 2]
    assert test.meta["mean"] == train.meta["mean"] and test.meta["std"] == train.meta["std"]


def test_every_split_numbers_its_classes_as_the_training_split_does(tmp_path):
    _write_folder(tmp_path / "pets")  # train: ant, bee, cat -> 0, 1, 2
    _write_folder(tmp_path / "pets", classes=("cat", "ant"), per_class=(1, 1), split="test")  # no bee
    test = get_dataset("image-folder", root=tmp_path / "pets", split="test")
    assert test.classes == ("ant", "bee", "cat")
    assert test.targets.tolist() == [0, 2]  # cat keeps id 2; counted from the test folders it would be 1
    assert test.inputs[:, 0, 0, 0].tolist() == [10, 50]  # the files: ant's, then cat's (red = 40 * rank + 10)


def test_a_class_folder_the_training_split_lacks_is_a_one_line_error(tmp_path):
    _write_folder(tmp_path / "pets")
    _write_folder(tmp_path / "pets", classes=("ant", "dog"), per_class=(1, 1), split="val")
    with pytest.raises(LayerlabError) as info:
        get_dataset("image-folder", root=tmp_path / "pets", split="val")
    message = str(info.value)
    assert "\n" not in message
    assert message.endswith("val/dog/ is a class the training split lacks (its classes: ant, bee, cat); "
                            "add train/dog/ or remove val/dog/")


# --- the decode cache ----------------------------------------------------------------------------


def _refuse_to_decode(*args, **kwargs):
    raise AssertionError("decoded again instead of reading the cache")


def test_second_read_comes_from_the_cache_without_decoding(tmp_path, monkeypatch):
    _write_folder(tmp_path / "pets")
    archive = _tar_of(tmp_path / "pets", tmp_path / "pets.tgz")
    for source in (tmp_path / "pets", archive):
        first = images.load_split(source, "train")
        with monkeypatch.context() as patch:
            patch.setattr(images, "_decode", _refuse_to_decode)
            second = images.load_split(source, "train")
        np.testing.assert_array_equal(first.inputs, second.inputs)
        assert second.classes == first.classes and second.mean == first.mean
    cached = sorted((tmp_path / "xdg-cache" / "layerlab" / "decoded").iterdir())
    assert len(cached) == 2 and all(p.suffix == ".npz" for p in cached)  # no temp files left behind
    with np.load(cached[0], allow_pickle=False) as saved:  # plain arrays: loads with pickle disabled
        assert saved["inputs"].dtype == np.uint8 and list(saved["classes"]) == ["ant", "bee", "cat"]


def test_changing_a_file_invalidates_the_folder_cache(tmp_path, monkeypatch):
    _write_folder(tmp_path / "pets")
    images.load_split(tmp_path / "pets", "train")
    changed = tmp_path / "pets" / "train" / "bee" / "00.png"
    Image.fromarray(np.full((4, 6, 3), 200, dtype=np.uint8)).save(changed)
    os.utime(changed, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new mtime even on coarse clocks
    data = images.load_split(tmp_path / "pets", "train")
    assert data.inputs[3, 0, 0, 0] == 200


def test_a_damaged_cache_file_is_rebuilt(tmp_path):
    _write_folder(tmp_path / "pets")
    first = images.load_split(tmp_path / "pets", "train")
    (cached,) = (tmp_path / "xdg-cache" / "layerlab" / "decoded").iterdir()
    cached.write_bytes(b"PK\x03\x04 truncated")
    again = images.load_split(tmp_path / "pets", "train")
    np.testing.assert_array_equal(first.inputs, again.inputs)


# --- cifar10 -------------------------------------------------------------------------------------


def _official_batches(folder: Path, per_batch: int = 4, numpy1: bool = False) -> np.ndarray:
    """Write data_batch_1..5 and test_batch as the official files are made; return all train pixels.

    `numpy1`: name the array rebuilder as numpy 1.x did (numpy.core), as in the official files.
    """
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    train = []
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [(i + j) % 10 for j in range(per_batch)]
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data, b"filenames": [b"x.png"] * per_batch}
        blob = pickle.dumps(batch, protocol=2)
        if numpy1:  # a GLOBAL opcode is a text line: renaming the module is a valid edit
            blob = blob.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
            assert b"numpy.core.multiarray" in blob
        (folder / name).write_bytes(blob)
        if name != "test_batch":
            train.append(data)
    return np.concatenate(train)


@pytest.mark.parametrize("numpy1", [False, True])
def test_cifar10_reads_the_extracted_python_batches(tmp_path, numpy1):
    pixels = _official_batches(tmp_path / "cifar-10-batches-py", numpy1=numpy1)
    train = get_dataset("cifar10", root=tmp_path, split="train")
    test = get_dataset("cifar10", root=tmp_path, split="test")
    assert train.inputs.shape == (20, 3, 32, 32) and test.inputs.shape == (4, 3, 32, 32)
    assert train.classes == CLASSES and train.classes[0] == "airplane" and train.classes[9] == "truck"
    assert train.targets[:4].tolist() == [0, 1, 2, 3] and test.targets.tolist() == [5, 6, 7, 8]
    # each row is 1024 red, 1024 green, 1024 blue values, row-major 32x32
    assert train.inputs[0, 1, 0, 5] == pixels[0, 1024 + 5] and train.inputs[7, 2, 3, 4] == pixels[7, 2048 + 3 * 32 + 4]
    want = (pixels.reshape(-1, 3, 1024) / 255.0).transpose(1, 0, 2).reshape(3, -1)
    assert train.meta["mean"] == pytest.approx(tuple(want.mean(axis=1)))
    assert test.meta["std"] == pytest.approx(tuple(want.std(axis=1)))  # the TRAIN statistics


def test_cifar10_reads_the_python_archive_in_memory(tmp_path):
    _official_batches(tmp_path / "src" / "cifar-10-batches-py")
    archive = tmp_path / "data" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    from_folder = get_dataset("cifar10", root=tmp_path / "src", split="train")
    for root in (tmp_path / "data", archive):  # the folder holding it, or the file itself
        data = get_dataset("cifar10", root=root, split="train")
        torch.testing.assert_close(data.inputs, from_folder.inputs, rtol=0, atol=0)
    assert list((tmp_path / "data").iterdir()) == [archive]  # nothing was unpacked beside it


def test_cifar10_refuses_a_pickle_that_would_run_code(tmp_path):
    _official_batches(tmp_path / "cifar-10-batches-py")
    evil = pickle.dumps({b"data": os.system}, protocol=2)  # unpickling would look up os.system
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(evil)
    with pytest.raises(LayerlabError, match="test_batch is not a CIFAR-10 python batch: .*system"):
        get_dataset("cifar10", root=tmp_path, split="test")


def _write_cifar_like_jpgs(root: Path, per_class: int = 1, classes=CLASSES) -> None:
    for split in ("train", "test"):
        for label, name in enumerate(classes):
            (root / split / name).mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(np.full((32, 32, 3), 20 * label, dtype=np.uint8)).save(root / split / name / f"{i}.jpg")


def test_cifar10_reads_class_folders_and_checks_the_classes(tmp_path):
    _write_cifar_like_jpgs(tmp_path / "jpg")
    data = get_dataset("cifar10", root=tmp_path / "jpg", split="test")
    assert data.inputs.shape == (10, 3, 32, 32) and data.targets.tolist() == list(range(10))
    assert abs(int(data.inputs[9, 0, 5, 5]) - 180) <= 3  # JPEG is lossy, but barely on a flat image
    _write_cifar_like_jpgs(tmp_path / "wrong", classes=CLASSES[:9] + ("lorry",))
    with pytest.raises(LayerlabError, match="expected the class folders airplane, .*found .*lorry"):
        get_dataset("cifar10", root=tmp_path / "wrong")


def _fake_download_module(monkeypatch, download) -> None:
    # a stand-in for the network: tests never leave the machine
    monkeypatch.setattr("layerlab.data.download.download", download)


def test_cifar10_without_root_downloads_the_official_archive_once(tmp_path, monkeypatch):
    _official_batches(tmp_path / "src" / "cifar-10-batches-py")
    calls = []

    def download(url: str, dest: Path, *, sha256=None, md5=None, progress=True) -> Path:
        calls.append((url, md5))
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(dest, "w:gz") as tar:
            tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
        return dest

    _fake_download_module(monkeypatch, download)
    first = get_dataset("cifar10", split="test")
    again = get_dataset("cifar10", split="test")
    assert calls == [("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a")]
    assert first.inputs.shape == again.inputs.shape == (4, 3, 32, 32)


def test_cifar10_offline_with_no_copy_says_which_file_to_put_where(tmp_path, monkeypatch):
    def download(url: str, dest: Path, **kwargs) -> Path:
        raise LayerlabError(f"download {url}: [Errno -3] Temporary failure in name resolution")

    _fake_download_module(monkeypatch, download)
    with pytest.raises(LayerlabError) as error:
        get_dataset("cifar10")
    message = str(error.value)
    assert message == (
        f"cifar10: put cifar-10-python.tar.gz into a folder and pass --data-dir FOLDER (or put it in "
        f"{tmp_path / 'xdg-cache' / 'layerlab' / 'cifar10'}), or use cifar10-jpg.tar.gz (the same images as class "
        "folders of JPEGs) the same way (download from https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz "
        "failed: [Errno -3] Temporary failure in name resolution)"
    )
    with pytest.raises(LayerlabError, match="cifar10: put cifar-10-python.tar.gz into a folder"):
        get_dataset("cifar10", root=tmp_path)  # a --data-dir without a copy: the same search goes on
    with pytest.raises(LayerlabError, match="splits train, test"):
        get_dataset("cifar10", root=tmp_path, split="val")


# --- the real archive (../shared/datasets) -------------------------------------------------------


def test_real_cifar10_jpg_test_split_decodes_once_then_loads_from_the_cache(shared_datasets, tmp_path, monkeypatch):
    archive = shared_datasets / "cifar10-jpg" / "cifar10-jpg.tar.gz"
    data = images.load_split(archive, "test", channels=3, cache_dir=tmp_path)  # 10,000 JPEGs, a few seconds
    assert data.inputs.shape == (10000, 3, 32, 32) and data.classes == CLASSES
    assert np.bincount(data.targets).tolist() == [1000] * 10
    # MANIFEST.md: test mean (0.4941, 0.4851, 0.4504); the published constants agree within JPEG error
    assert data.mean == pytest.approx((0.4942, 0.4851, 0.4504), abs=5e-4)
    monkeypatch.setattr(images, "_decode", _refuse_to_decode)
    again = images.load_split(archive, "test", channels=3, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.inputs, data.inputs)
