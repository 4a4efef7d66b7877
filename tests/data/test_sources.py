"""One way to find a dataset's files, for every reader: --data-dir, $LAYERLAB_DATA/<dataset>, the
cache ~/.cache/layerlab/<dataset>, system copies, then a verified download; splits checked once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from helpers.fake_files import boston_rows, write_fake_boston, write_fake_mnist
from PIL import Image

from layerlab.data import DATASETS, get_dataset, list_datasets
from layerlab.data import download as download_module
from layerlab.data.cifar import CLASSES
from layerlab.data.download import FileSpec, dataset_folders, locate
from layerlab.errors import LayerlabError


def test_the_order_is_root_then_layerlab_data_then_the_home_cache_then_system_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LAYERLAB_DATA", str(tmp_path / "env"))
    root, env, system = tmp_path / "mine", tmp_path / "env" / "demo", tmp_path / "usr"
    cache = tmp_path / "home" / ".cache" / "layerlab" / "demo"
    root.mkdir()
    assert dataset_folders("demo", root, system_dirs=[system]) == [root / "demo", root, env, cache, system]
    for folder in (root, env, cache, system):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "notes.txt").write_text(folder.name)
    spec = FileSpec("notes.txt")
    for expected in (root, env, cache, system):  # each source wins until its copy goes away
        assert locate("demo", [spec], root, system_dirs=[system])["notes.txt"] == expected / "notes.txt"
        (expected / "notes.txt").unlink()
    with pytest.raises(LayerlabError, match="demo: put notes.txt into a folder and pass --data-dir FOLDER"):
        locate("demo", [spec], root, system_dirs=[system])


def test_a_missing_copy_is_downloaded_into_the_datasets_cache_folder(tmp_path: Path, monkeypatch) -> None:
    fetched = []

    def fake_download(url: str, dest: Path, *, sha256: str | None = None, md5: str | None = None) -> Path:
        fetched.append((url, dest, md5))
        dest.parent.mkdir(parents=True)
        dest.write_bytes(b"payload")
        return dest

    monkeypatch.setattr(download_module, "download", fake_download)
    spec = FileSpec("a.gz", "https://example.org/a.gz", md5="0" * 32)
    path = locate("demo", [spec], None)["a.gz"]
    assert path == tmp_path / "xdg-cache" / "layerlab" / "demo" / "a.gz"
    assert fetched == [("https://example.org/a.gz", path, "0" * 32)]


def _write_sources(folder: Path) -> None:
    """One tiny copy of every dataset that reads files, each in its own FOLDER/<dataset>/."""
    days = [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(40)]
    (folder / "nflx-stock").mkdir(parents=True)
    (folder / "nflx-stock" / "NFLX.csv").write_text(
        "Date,Close\n" + "".join(f"{day},{100 + i}\n" for i, day in enumerate(days)))
    (folder / "tiny-shakespeare").mkdir()
    (folder / "tiny-shakespeare" / "input.txt").write_text("First Citizen: speak, speak. " * 20)
    (folder / "kor-eng").mkdir()
    (folder / "kor-eng" / "kor.txt").write_text("".join(f"Go {i}.\t가 {i}.\tCC-BY #{i}\n" for i in range(10)))
    write_fake_mnist(folder / "mnist")
    write_fake_boston(folder / "boston-housing", boston_rows(10))
    for split in ("train", "test"):
        for label, name in enumerate(CLASSES):
            (folder / "cifar10" / split / name).mkdir(parents=True)
            Image.fromarray(np.full((32, 32, 3), 20 * label, dtype=np.uint8)).save(folder / "cifar10" / split / name / "0.png")
        (folder / "image-folder" / split / "cat").mkdir(parents=True)
        Image.fromarray(np.full((4, 4, 3), 9, dtype=np.uint8)).save(folder / "image-folder" / split / "cat" / "0.png")


def test_layerlab_data_serves_every_reader_that_reads_files(tmp_path: Path, monkeypatch) -> None:
    _write_sources(tmp_path / "datasets")
    monkeypatch.setenv("LAYERLAB_DATA", str(tmp_path / "datasets"))
    lengths = {
        "nflx-stock": len(get_dataset("nflx-stock", "train", window=5)),  # 28 train days - 5 of context
        "tiny-shakespeare": len(get_dataset("tiny-shakespeare", "train", seq_len=8)),
        "kor-eng": len(get_dataset("kor-eng", "train")),
        "mnist": len(get_dataset("mnist", "test", download=False)),
        "boston-housing": len(get_dataset("boston-housing", "all", download=False)),
        "cifar10": len(get_dataset("cifar10", "test")),
        "image-folder": len(get_dataset("image-folder", "train")),
    }
    assert lengths == {"nflx-stock": 23, "tiny-shakespeare": 65, "kor-eng": 9, "mnist": 4, "boston-housing": 10,
                       "cifar10": 10, "image-folder": 1}


def test_a_data_dir_that_does_not_exist_is_one_line_for_every_reader(tmp_path: Path) -> None:
    for name in ("nflx-stock", "cifar10", "image-folder", "mnist"):
        with pytest.raises(LayerlabError, match=f"{name}: the data folder .*nowhere given by --data-dir does not exist"):
            get_dataset(name, "train", root=tmp_path / "nowhere")


@pytest.mark.parametrize("name", list_datasets())
def test_an_unknown_split_names_the_allowed_ones_before_any_file_is_read(name: str, tmp_path: Path) -> None:
    allowed = ", ".join(DATASETS.get(name).meta["splits"])
    with pytest.raises(LayerlabError) as info:
        get_dataset(name, "nope", root=tmp_path / "nowhere")  # the folder check would come later
    assert str(info.value) == f"{name} has splits {allowed}; got 'nope'"
