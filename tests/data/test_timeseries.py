"""Dated CSVs, chronological splits, sliding windows and scalers that never see the future."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import torch

from layerlab.data import get_dataset
from layerlab.data.scalers import scaler_from_state
from layerlab.data.timeseries import chronological_split, make_windows, part_windows, read_dated_csv
from layerlab.errors import LayerlabError

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"


def _write_prices(path: Path, closes: list[float], start: dt.date = dt.date(2020, 1, 1)) -> Path:
    lines = [HEADER]
    for i, close in enumerate(closes):
        day = start + dt.timedelta(days=i)
        lines.append(f"{day},{close - 1},{close + 2},{close - 2},{close},{close},{1000 + i}\n")
    path.write_text("".join(lines))
    return path


def test_read_dated_csv_selects_columns_by_name(tmp_path: Path) -> None:
    table = read_dated_csv(_write_prices(tmp_path / "p.csv", [10.0, 11.5, 12.25]), ["Close", "Volume"])
    assert table.dates == ["2020-01-01", "2020-01-02", "2020-01-03"]
    assert table.columns == ("Close", "Volume")
    assert table.values.tolist() == [[10.0, 1000.0], [11.5, 1001.0], [12.25, 1002.0]]
    assert read_dated_csv(tmp_path / "p.csv").columns == ("Open", "High", "Low", "Close", "Adj Close", "Volume")
    with pytest.raises(LayerlabError, match="no column 'close'"):
        read_dated_csv(tmp_path / "p.csv", ["close"])


def test_dates_out_of_order_are_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "2020-01-02,1,1,1,1,1,1\n2020-01-01,1,1,1,1,1,1\n")
    with pytest.raises(LayerlabError, match="strictly ascending, but row 3") as info:
        read_dated_csv(path)
    assert "\n" not in str(info.value)


def test_chronological_split_is_contiguous_and_ordered() -> None:
    train, val, test = chronological_split(1259, (0.7, 0.15, 0.15))
    assert (train, val, test) == (slice(0, 881), slice(881, 1070), slice(1070, 1259))
    with pytest.raises(LayerlabError, match="sum to 1"):
        chronological_split(100, (0.7, 0.2))


def test_window_i_covers_days_i_to_i_plus_29_and_targets_day_i_plus_30() -> None:
    series = torch.arange(1.0, 41.0).unsqueeze(1)              # day d holds value d, days 1..40
    inputs, targets = make_windows(series, window=30, horizon=1)
    assert inputs.shape == (10, 30, 1) and targets.shape == (10, 1)
    assert inputs[0, :, 0].tolist() == list(range(1, 31)) and targets[0].item() == 31   # days 1-30 -> 31
    assert inputs[1, :, 0].tolist() == list(range(2, 32)) and targets[1].item() == 32   # days 2-31 -> 32
    assert targets[-1].item() == 40
    _, ahead = make_windows(series, window=30, horizon=3)      # three days ahead: days 1-30 -> 33
    assert ahead[:, 0].tolist() == list(range(33, 41))


def test_make_windows_picks_the_target_column() -> None:
    series = torch.stack([torch.arange(10.0), -torch.arange(10.0)], dim=1)   # (10, 2)
    inputs, targets = make_windows(series, window=4, target_column=1)
    assert inputs.shape == (6, 4, 2)
    assert targets[:, 0].tolist() == [-4.0, -5.0, -6.0, -7.0, -8.0, -9.0]
    with pytest.raises(LayerlabError, match="too short"):
        make_windows(series, window=10)


def test_part_windows_use_past_context_but_keep_targets_inside_the_part() -> None:
    series = torch.arange(100.0).unsqueeze(1)
    inputs, targets, rows = part_windows(series, slice(70, 85), window=30)
    assert rows.tolist() == list(range(70, 85))               # every target inside the part
    assert targets[:, 0].tolist() == [float(r) for r in range(70, 85)]
    assert inputs[0, :, 0].tolist() == [float(d) for d in range(40, 70)]   # context: the 30 days before
    _, _, first_rows = part_windows(series, slice(0, 70), window=30)
    assert first_rows[0].item() == 30                          # no past before the first part


def test_no_test_period_value_reaches_the_scaler_or_a_training_window(tmp_path: Path) -> None:
    closes = [100.0 + 10 * torch.sin(torch.tensor(i / 7.0)).item() for i in range(200)]
    clean = tmp_path / "clean"
    clean.mkdir()
    _write_prices(clean / "NFLX.csv", closes)
    poisoned = tmp_path / "poisoned"
    poisoned.mkdir()
    test_start = chronological_split(200)[2].start                                 # row 170
    _write_prices(poisoned / "NFLX.csv", closes[:test_start] + [1e6] * (200 - test_start))
    for split in ("train", "val"):
        a = get_dataset("nflx-stock", split, root=clean)
        b = get_dataset("nflx-stock", split, root=poisoned)
        assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
        assert a.meta["scaler"] == b.meta["scaler"]
    test_a = get_dataset("nflx-stock", "test", root=clean)
    test_b = get_dataset("nflx-stock", "test", root=poisoned)
    assert not torch.equal(test_a.targets, test_b.targets)                         # the poison is visible there
    assert test_b.meta["prices"].max().item() == 1e6


def test_nflx_reader_on_a_small_file_reports_dates_and_dollars(tmp_path: Path) -> None:
    closes = [float(100 + i) for i in range(100)]
    _write_prices(tmp_path / "NFLX.csv", closes)
    train = get_dataset("nflx-stock", "train", root=tmp_path, window=10)
    test = get_dataset("nflx-stock", "test", root=tmp_path, window=10)
    assert train.inputs.shape == (60, 10, 1) and train.inputs.dtype == torch.float32   # rows 10..69
    assert train.meta["dates"][0] == "2020-01-11"                                      # the 11th day
    assert test.meta["prices"].tolist() == closes[85:]
    scaler = scaler_from_state(test.meta["scaler"])
    dollars = scaler.inverse_transform(test.targets.double(), column=test.meta["target_column"])
    torch.testing.assert_close(dollars[:, 0], test.meta["prices"], atol=1e-4, rtol=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(LayerlabError, match="nflx-stock: put NFLX.csv into a folder and pass --data-dir FOLDER"):
        get_dataset("nflx-stock", root=tmp_path / "empty")


def test_real_nflx_csv(shared_datasets: Path) -> None:
    root = shared_datasets / "nflx-stock"
    table = read_dated_csv(root / "NFLX.csv")
    assert len(table.dates) == 1259
    assert table.dates[0] == "2018-01-02" and table.dates[-1] == "2022-12-30"
    close = table.values[:, table.column("Close")]
    assert close.max().item() == pytest.approx(691.69, abs=0.01)                   # 2021-11-17 record
    sizes = [len(get_dataset("nflx-stock", s, root=root)) for s in ("train", "val", "test")]
    assert sizes == [851, 189, 189]
