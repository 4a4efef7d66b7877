"""The CSV reader, the two housing datasets on tiny files, and standardisation from training rows."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pytest
import torch
from helpers.fake_files import (
    boston_rows,
    california_rows,
    write_csv,
    write_fake_boston,
    write_fake_california,
)

from layerlab.data import get_dataset, split_indices
from layerlab.data.tabular import CALIFORNIA_FEATURES, read_csv, standardize
from layerlab.data.tensors import TensorData
from layerlab.errors import LayerlabError


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LAYERLAB_DATA", raising=False)


# --- read_csv ----------------------------------------------------------------------------------


def test_read_csv_handles_quotes_a_bom_blank_lines_and_any_header_case(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes('\ufeff"Name","Value"\n"a, b",1.5\nc,\n\n'.encode())
    table = read_csv(path)
    assert table.names == ("Name", "Value") and len(table) == 2
    assert table.column("name") == ["a, b", "c"]
    values = table.numbers("VALUE")
    assert values[0].item() == 1.5 and math.isnan(values[1].item())  # a blank cell is missing


def test_read_csv_errors_name_the_line_and_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", ["x", "y"], [[1, 2], [3, "three"]])
    with pytest.raises(LayerlabError, match=r"line 3, column 'y': expected a number, got 'three'"):
        read_csv(path).numbers("y")
    with pytest.raises(LayerlabError, match="expected a column 'z'; the columns are x, y"):
        read_csv(path).column("z")
    path.write_text("x,y\n1,2\n3\n")
    with pytest.raises(LayerlabError, match="line 3 has 1 cells, the header has 2"):
        read_csv(path)


# --- Boston housing ----------------------------------------------------------------------------


def test_boston_reads_both_file_flavours_to_the_same_tensors(tmp_path: Path) -> None:
    rows = boston_rows(10)
    write_fake_boston(tmp_path / "lower", rows)
    write_fake_boston(tmp_path / "upper", rows, uppercase=True)
    lower = get_dataset("boston-housing", "all", root=tmp_path / "lower", download=False)
    upper = get_dataset("boston-housing", "all", root=tmp_path / "upper", download=False)
    expected = torch.tensor(rows, dtype=torch.float32)
    assert lower.inputs.dtype == torch.float32 and lower.inputs.shape == (10, 13)
    assert torch.equal(lower.inputs, expected[:, :13]) and torch.equal(upper.inputs, lower.inputs)
    assert lower.targets.shape == (10, 1) and torch.equal(lower.targets[:, 0], expected[:, 13])
    assert lower.meta["feature_names"][3] == "CHAS" and lower.meta["target_name"] == "MEDV"
    assert lower.inputs[:, 3].tolist() == [0, 1] * 5  # quoted "0"/"1" read as numbers


def test_train_and_test_are_a_fixed_80_20_partition(tmp_path: Path) -> None:
    write_fake_boston(tmp_path, boston_rows(10))
    train = get_dataset("boston-housing", "train", root=tmp_path, download=False)
    test = get_dataset("boston-housing", "test", root=tmp_path, download=False)
    train_idx, test_idx = split_indices(10, 0.2, seed=0)
    # CRIM is the row number in the fake file, so it tells which rows went where
    assert train.inputs[:, 0].long().tolist() == train_idx.tolist()
    assert test.inputs[:, 0].long().tolist() == test_idx.tolist()
    assert sorted(train.inputs[:, 0].tolist() + test.inputs[:, 0].tolist()) == list(range(10))
    assert len(test) == 2
    with pytest.raises(LayerlabError, match="boston-housing has splits all, train, test; got 'valid'"):
        get_dataset("boston-housing", "valid", root=tmp_path)


def test_boston_with_a_blank_cell_is_an_error(tmp_path: Path) -> None:
    rows: list[list[object]] = [list(r) for r in boston_rows(4)]
    rows[2][5] = ""
    write_fake_boston(tmp_path, rows, uppercase=True)
    with pytest.raises(LayerlabError, match="column 'RM' has blank cells"):
        get_dataset("boston-housing", "all", root=tmp_path, download=False)


# --- California housing ------------------------------------------------------------------------


def test_california_one_hot_encodes_ocean_proximity(tmp_path: Path) -> None:
    write_fake_california(tmp_path, california_rows(10))
    data = get_dataset("california-housing", "all", root=tmp_path, download=False)
    assert data.inputs.shape == (10, 13) and data.targets.shape == (10, 1)
    assert data.meta["feature_names"] == CALIFORNIA_FEATURES and data.meta["target_name"] == "median_house_value"
    # row i has category i % 5 in the sorted order <1H OCEAN, INLAND, ISLAND, NEAR BAY, NEAR OCEAN
    assert data.inputs[:, 8:].argmax(dim=1).tolist() == [i % 5 for i in range(10)]
    assert data.inputs[:, 8:].sum(dim=1).tolist() == [1.0] * 10
    assert data.targets[:, 0].tolist() == [100000.0 + 1000 * i for i in range(10)]


def test_missing_bedrooms_get_the_training_rows_median_only(tmp_path: Path) -> None:
    train_idx, test_idx = split_indices(10, 0.2, seed=0)
    blank_train, blank_test = int(train_idx[0]), int(test_idx[0])
    rows = california_rows(10, blank_bedrooms=(blank_train, blank_test))
    known_train = [100.0 + 10 * i for i in train_idx.tolist() if i != blank_train]
    write_fake_california(tmp_path, rows)
    data = get_dataset("california-housing", "all", root=tmp_path, download=False)
    fill = statistics.median(known_train)
    assert data.meta["total_bedrooms_fill"] == fill
    assert data.inputs[blank_train, 4].item() == fill and data.inputs[blank_test, 4].item() == fill
    # changing a test row's known value must not move the fill value
    other_test = int(test_idx[1])
    rows[other_test][4] = 1e6
    write_fake_california(tmp_path, rows)
    again = get_dataset("california-housing", "test", root=tmp_path, download=False)
    assert again.meta["total_bedrooms_fill"] == fill


def test_california_rejects_an_unknown_category(tmp_path: Path) -> None:
    rows = california_rows(3)
    rows[1][9] = "ON THE MOON"
    write_fake_california(tmp_path, rows)
    expected = "line 3, column 'ocean_proximity': expected one of <1H OCEAN, .* got 'ON THE MOON'"
    with pytest.raises(LayerlabError, match=expected):
        get_dataset("california-housing", "all", root=tmp_path, download=False)


# --- standardize ------------------------------------------------------------------------------


def test_standardize_takes_its_statistics_from_the_training_rows_only() -> None:
    train = TensorData(torch.tensor([[1.0], [2.0], [3.0]]), torch.zeros(3, 1))
    test = TensorData(torch.tensor([[100.0], [200.0]]), torch.ones(2, 1))
    (train_z, test_z), scaler = standardize(train, test)
    std = math.sqrt(2 / 3)  # population std of 1, 2, 3
    assert scaler.mean.tolist() == [2.0]  # pooled with the test rows it would be 61.2
    assert scaler.std.item() == pytest.approx(std)
    assert test_z.inputs[:, 0].tolist() == pytest.approx([98 / std, 198 / std])
    assert train_z.inputs[:, 0].tolist() == pytest.approx([-1 / std, 0.0, 1 / std])
    assert torch.equal(test_z.targets, test.targets)  # targets are left alone


# --- the real files ----------------------------------------------------------------------------


def test_real_boston_has_506_tracts_and_the_published_medv_mean(shared_datasets: Path) -> None:
    root = shared_datasets / "boston-housing"
    data = get_dataset("boston-housing", "all", root=root, download=False)
    assert data.inputs.shape == (506, 13)
    assert data.targets.double().mean().item() == pytest.approx(22.5328, abs=1e-4)
    assert int(data.inputs[:, 3].sum()) == 35  # CHAS = 1 for 35 tracts (MANIFEST.md)
    upper = read_csv(root / "boston_housing.csv")
    assert torch.equal(upper.numbers("medv").float(), data.targets[:, 0])


def test_real_california_has_20640_rows_and_the_published_counts(shared_datasets: Path) -> None:
    root = shared_datasets / "california-housing"
    train = get_dataset("california-housing", "train", root=root, download=False)
    test = get_dataset("california-housing", "test", root=root, download=False)
    assert (len(train), len(test)) == (16_512, 4_128) and train.inputs.shape[1] == 13
    inputs = torch.cat([train.inputs, test.inputs])
    targets = torch.cat([train.targets, test.targets]).double()
    assert not torch.isnan(inputs).any()
    assert inputs[:, 8:].sum(dim=0).tolist() == [9136, 6551, 5, 2290, 2658]  # published ocean_proximity counts
    assert targets.mean().item() == pytest.approx(206_855.82, abs=0.01)
    (train_z, _), _ = standardize(train, test)
    means = train_z.inputs.double().mean(dim=0)
    torch.testing.assert_close(means, torch.zeros(13, dtype=torch.float64), atol=1e-5, rtol=0)
