"""Time series from dated CSV files: chronological splits, sliding windows, scalers fitted on the past.

Course unit: RNN, the Netflix stock exercise (넷플릭스 주가 예측):
    days 1..30 -> predict day 31, days 2..31 -> day 32, ...
Three rules keep the test honest, and each has a test:
1. Split by time, never shuffled: train is the oldest 70%, then validation, then test.
2. Fit the scaler on the training part only: min/max seen in the future would leak into training.
3. A validation/test window may read the `window` days before its part as context (they are past
   values, known at prediction time), but every target lies inside its own part.
Predictions are made on the scaled values; `meta["scaler"]` (a `layerlab.data.scalers` state) turns them
back into dollars.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor

from layerlab.data.download import find_file
from layerlab.data.registry import register_dataset
from layerlab.data.scalers import get_scaler
from layerlab.data.tensors import TensorData
from layerlab.errors import LayerlabError


@dataclass
class DatedTable:
    """Rows of a CSV in date order: `values[t]` holds the chosen columns on `dates[t]`."""

    dates: list[str]            # ISO dates, strictly ascending
    values: Tensor              # (T, F) float64: prices need the precision; windows become float32
    columns: tuple[str, ...]

    def column(self, name: str) -> int:
        if name not in self.columns:
            raise LayerlabError(f"column {name!r} is not among the selected columns {list(self.columns)}")
        return self.columns.index(name)


def read_dated_csv(path: Path, columns: Sequence[str] | None = None, date_column: str = "Date") -> DatedTable:
    """Read `date_column` plus numeric `columns` (default: every other column) from a CSV file."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise LayerlabError(f"{path}: expected a header and at least one row, found none")
    header = list(rows[0])
    if date_column not in header:
        raise LayerlabError(f"{path}: expected a {date_column!r} column, found {header}")
    chosen = tuple(columns) if columns is not None else tuple(c for c in header if c != date_column)
    missing = [c for c in chosen if c not in header]
    if missing:
        raise LayerlabError(f"{path}: no column {missing[0]!r}; the file has {header}")
    dates = [row[date_column] for row in rows]
    _check_ascending(path, dates)
    try:
        values = torch.tensor([[float(row[c]) for c in chosen] for row in rows], dtype=torch.float64)
    except (TypeError, ValueError) as exc:
        raise LayerlabError(f"{path}: expected numbers in columns {list(chosen)}: {exc}") from None
    return DatedTable(dates, values.reshape(len(rows), len(chosen)), chosen)


def _check_ascending(path: Path, dates: list[str]) -> None:
    try:
        parsed = [dt.date.fromisoformat(d) for d in dates]
    except ValueError as exc:
        raise LayerlabError(f"{path}: expected ISO dates like 2018-01-02: {exc}") from None
    for row, (before, after) in enumerate(zip(parsed, parsed[1:]), start=3):   # row 1 is the header
        if after <= before:
            raise LayerlabError(f"{path}: dates must be strictly ascending, but row {row} ({after}) "
                                f"does not come after {before}")


def chronological_split(n: int, fractions: Sequence[float] = (0.7, 0.15, 0.15)) -> tuple[slice, ...]:
    """Cut rows 0..n-1 into consecutive parts (oldest first) with the given fractions; no shuffling."""
    if abs(sum(fractions) - 1.0) > 1e-6 or any(f <= 0 for f in fractions):
        raise LayerlabError(f"split fractions must be positive and sum to 1, got {tuple(fractions)}")
    cuts = [0]
    running = 0.0
    for f in fractions[:-1]:
        running += f
        cuts.append(round(n * running))
    cuts.append(n)
    return tuple(slice(a, b) for a, b in zip(cuts[:-1], cuts[1:]))


def make_windows(series: Tensor, window: int = 30, horizon: int = 1,
                 target_column: int = 0) -> tuple[Tensor, Tensor]:
    """Sliding windows: inputs[i] = series[i : i + window] and targets[i] = the target column on day
    i + window + horizon - 1. With window=30, horizon=1: days 1-30 -> day 31, days 2-31 -> day 32, ...

    series: (T, F). Returns inputs (N, window, F) and targets (N, 1), N = T - window - horizon + 1.
    """
    if series.dim() != 2:
        raise LayerlabError(f"expected a (time, features) series, got shape {tuple(series.shape)}")
    n = series.shape[0] - window - horizon + 1
    if window < 1 or horizon < 1 or n < 1:
        raise LayerlabError(f"a series of {series.shape[0]} steps is too short for window={window}, horizon={horizon}")
    inputs = series.unfold(0, window, 1)[:n]                      # (N, F, window): one view per start day
    inputs = inputs.transpose(1, 2).contiguous()                  # (N, window, F)
    first = window + horizon - 1                                  # index of the first target
    targets = series[first : first + n, target_column : target_column + 1].clone()   # (N, 1)
    return inputs, targets


def part_windows(series: Tensor, part: slice, window: int = 30, horizon: int = 1, target_column: int = 0,
                 context: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """Windows whose targets lie in rows `part`. With `context`, the first windows read the
    window + horizon - 1 rows before the part (past values). Returns inputs, targets and the row
    index of each target."""
    lookback = window + horizon - 1
    start = max(0, part.start - lookback) if context else part.start
    inputs, targets = make_windows(series[start : part.stop], window, horizon, target_column)
    rows = torch.arange(len(targets)) + start + lookback          # the row each target comes from
    return inputs, targets, rows


_SPLITS = ("train", "val", "test")


def windowed_split(table: DatedTable, split: str, *, window: int = 30, horizon: int = 1, target: str = "Close",
                   scaler: str = "minmax", fractions: Sequence[float] = (0.7, 0.15, 0.15),
                   name: str = "") -> TensorData:
    """One split of a dated table as scaled windows; the scaler is fitted on the training rows only."""
    parts = dict(zip(_SPLITS, chronological_split(len(table.dates), fractions)))
    fitted = get_scaler(scaler).fit(table.values[parts["train"]])   # training rows only: no peeking
    scaled = fitted.transform(table.values)                          # (T, F)
    t_col = table.column(target)
    inputs, targets, rows = part_windows(scaled, parts[split], window, horizon, t_col)
    meta = {
        "scaler": fitted.state_dict(),          # scaler_from_state(meta["scaler"]).inverse_transform(pred, column)
        "target_column": t_col,
        "columns": table.columns,
        "dates": [table.dates[r] for r in rows.tolist()],             # the date of each target
        "prices": table.values[rows, t_col].clone(),                  # each target in original units (N,)
        "window": window,
        "horizon": horizon,
    }
    return TensorData(inputs.float(), targets.float(), (), name, meta)


@register_dataset(
    "nflx-stock",
    task="regression",
    input_shape=(30, 1),
    splits=_SPLITS,
    description="Netflix daily prices 2018-2022 (1,259 days): 30-day windows of scaled Close -> next day",
    files="NFLX.csv (Date,Open,High,Low,Close,Adj Close,Volume from Yahoo Finance) in the data directory",
)
def nflx_stock(root: Path | None = None, split: str = "train", window: int = 30, horizon: int = 1,
               columns: Sequence[str] = ("Close",), target: str = "Close", scaler: str = "minmax",
               fractions: Sequence[float] = (0.7, 0.15, 0.15)) -> TensorData:
    """Splits are chronological 70/15/15 (881/189/189 days); train has 851 windows, val and test 189."""
    table = read_dated_csv(find_file(root, "nflx-stock", "NFLX.csv"), columns)
    data = windowed_split(table, split, window=window, horizon=horizon, target=target, scaler=scaler,
                          fractions=fractions, name="nflx-stock")
    data.meta["source"] = "NFLX.csv"
    return data
