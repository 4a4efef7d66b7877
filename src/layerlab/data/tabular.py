"""Tables from CSV files: the two housing-price datasets, and standardisation fitted on training rows.

The course's regression exercises predict a house price from a row of numbers. Two things matter
more than the model here, and this module makes both explicit:

- Features live on very different scales (a tax rate in the hundreds, a pollution level below 1),
  so they are standardised to mean 0 and std 1 per column.
- The mean and std come from the *training* rows only. Using the test rows would leak information
  about the test set into training (`StandardScaler.fit` sees only what you give it; see
  `layerlab.data.scalers`).

The CSV reader is the standard library's `csv` module: no pandas needed for a few thousand rows.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from layerlab.data.download import FileSpec, locate
from layerlab.data.registry import register_dataset
from layerlab.data.scalers import StandardScaler
from layerlab.data.splits import split_indices
from layerlab.data.tensors import TensorData
from layerlab.errors import LayerlabError

TABULAR_SPLITS = ("all", "train", "test")
TEST_FRACTION = 0.2  # a fixed 80/20 shuffle with seed 0, the same for every run


# ---------------------------------------------------------------------------------------------
# A small CSV reader with named columns
# ---------------------------------------------------------------------------------------------


@dataclass
class Table:
    """A CSV file as text cells under named columns (names match case-insensitively)."""

    path: Path
    names: tuple[str, ...]
    rows: list[list[str]]

    def __len__(self) -> int:
        return len(self.rows)

    def index(self, name: str) -> int:
        lowered = [n.lower() for n in self.names]
        if name.lower() not in lowered:
            raise LayerlabError(f"{self.path}: expected a column {name!r}; the columns are {', '.join(self.names)}")
        return lowered.index(name.lower())

    def column(self, name: str) -> list[str]:
        i = self.index(name)
        return [row[i] for row in self.rows]

    def numbers(self, name: str) -> Tensor:
        """One column as float64 (N,); a blank cell becomes NaN, anything else must be a number."""
        values = []
        for line, cell in enumerate(self.column(name), start=2):  # line 1 is the header
            try:
                values.append(float(cell) if cell.strip() else math.nan)
            except ValueError:
                raise LayerlabError(
                    f"{self.path}: line {line}, column {name!r}: expected a number, got {cell!r}"
                ) from None
        return torch.tensor(values, dtype=torch.float64)


def read_csv(path: Path) -> Table:
    """Read a comma-separated file whose first line names the columns (quoted cells allowed)."""
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: tolerate a spreadsheet's BOM
        lines = [row for row in csv.reader(f) if row]  # skip blank lines, e.g. a trailing one
    if not lines:
        raise LayerlabError(f"{path}: expected a header line and rows, got an empty file")
    names = tuple(name.strip() for name in lines[0])
    for number, row in enumerate(lines[1:], start=2):
        if len(row) != len(names):
            raise LayerlabError(f"{path}: line {number} has {len(row)} cells, the header has {len(names)}")
    return Table(path, names, lines[1:])


def _split(data: TensorData, split: str) -> TensorData:
    if split == "all":
        return data
    train_idx, test_idx = split_indices(len(data), TEST_FRACTION, seed=0)
    return data.subset(train_idx if split == "train" else test_idx)


def _no_missing(table: Table, values: Tensor, names: Sequence[str]) -> None:
    """values: (N, F). Every cell must be present; name the first column that is not."""
    missing = torch.isnan(values).any(dim=0)
    if missing.any():
        name = names[int(missing.nonzero()[0])]
        raise LayerlabError(f"{table.path}: column {name!r} has blank cells; expected a number in every row")


# ---------------------------------------------------------------------------------------------
# Boston housing
# ---------------------------------------------------------------------------------------------

BOSTON_FEATURES = ("CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS", "RAD", "TAX", "PTRATIO", "B", "LSTAT")
BOSTON_FILE = FileSpec(
    "BostonHousing.csv",  # the mlbench version: lowercase headers, quoted chas
    "https://raw.githubusercontent.com/selva86/datasets/master/BostonHousing.csv",
    sha256="ab16ba38fbbbbcc69fe930aab1293104f1442c8279c130d9eba03dd864bef675",
    aliases=("boston_housing.csv",),  # the same values under uppercase headers
)


@register_dataset(
    "boston-housing",
    task="regression",
    input_shape=(13,),
    splits=TABULAR_SPLITS,
    description="506 Boston census tracts (Harrison & Rubinfeld, 1978): 13 features -> median price MEDV in $1000s",
    files="BostonHousing.csv or boston_housing.csv in --data-dir",
)
def boston_housing(root: Path | None = None, split: str = "train", download: bool = True) -> TensorData:
    """13 features per tract -> MEDV, the median home value in $1000s (the target's mean is 22.53).

    Caveat for teaching: column B is 1000 (Bk - 0.63)^2 where Bk is the proportion of Black
    residents, a race-based variable built on a segregation assumption. scikit-learn removed
    `load_boston` in version 1.2 for this reason. Use the set together with that discussion,
    or drop B: `torch.cat([inputs[:, :11], inputs[:, 12:]], dim=1)`.
    """
    path = locate("boston-housing", [BOSTON_FILE], root, allow_download=download)[BOSTON_FILE.filename]
    table = read_csv(path)
    inputs = torch.stack([table.numbers(name) for name in BOSTON_FEATURES], dim=1)  # (506, 13)
    targets = table.numbers("MEDV").unsqueeze(1)  # (506, 1)
    _no_missing(table, torch.cat([inputs, targets], dim=1), BOSTON_FEATURES + ("MEDV",))
    meta = {"feature_names": BOSTON_FEATURES, "target_name": "MEDV", "source": str(path)}
    data = TensorData(inputs.float(), targets.float(), (), "boston-housing", meta)
    return _split(data, split)


# ---------------------------------------------------------------------------------------------
# California housing (the handson-ml2 version)
# ---------------------------------------------------------------------------------------------

CALIFORNIA_NUMERIC = ("longitude", "latitude", "housing_median_age", "total_rooms", "total_bedrooms",
                      "population", "households", "median_income")
OCEAN_PROXIMITY = ("<1H OCEAN", "INLAND", "ISLAND", "NEAR BAY", "NEAR OCEAN")  # sorted, as one-hot encoders do
CALIFORNIA_FEATURES = CALIFORNIA_NUMERIC + tuple(f"ocean_proximity={c}" for c in OCEAN_PROXIMITY)
CALIFORNIA_FILE = FileSpec(
    "housing.csv",
    "https://raw.githubusercontent.com/ageron/handson-ml2/master/datasets/housing/housing.csv",
    sha256="8a3727f4cf54ac1a327f69b1d5b4db54c5834ea81c6e4efc0d163300022a685e",
)


def _one_hot(table: Table, name: str, categories: tuple[str, ...]) -> Tensor:
    """A text column -> (N, len(categories)) of 0/1, one column per category."""
    position = {c: i for i, c in enumerate(categories)}
    codes = []
    for line, cell in enumerate(table.column(name), start=2):
        if cell.strip() not in position:
            raise LayerlabError(f"{table.path}: line {line}, column {name!r}: expected one of "
                                f"{', '.join(categories)}, got {cell!r}")
        codes.append(position[cell.strip()])
    return torch.nn.functional.one_hot(torch.tensor(codes), len(categories)).double()


@register_dataset(
    "california-housing",
    task="regression",
    input_shape=(13,),
    splits=TABULAR_SPLITS,
    description="20,640 California block groups, 1990 census (Pace & Barry, 1997): 8 numbers + ocean "
    "proximity -> median house value in dollars",
    files="housing.csv (the handson-ml2 version) in --data-dir",
)
def california_housing(root: Path | None = None, split: str = "train", download: bool = True) -> TensorData:
    """8 numeric features + 5 one-hot ocean_proximity columns -> median_house_value in dollars.

    207 rows have no total_bedrooms; they get the median of the *training* split's known values
    (also in splits "test" and "all"), so the fill leaks nothing from the test rows.
    """
    path = locate("california-housing", [CALIFORNIA_FILE], root, allow_download=download)[CALIFORNIA_FILE.filename]
    table = read_csv(path)
    numeric = torch.stack([table.numbers(name) for name in CALIFORNIA_NUMERIC], dim=1)  # (N, 8)
    bedrooms = CALIFORNIA_NUMERIC.index("total_bedrooms")
    train_idx, _ = split_indices(len(table), TEST_FRACTION, seed=0)
    # np.nanmedian averages the two middle values, like pandas and scikit-learn's SimpleImputer
    fill = float(np.nanmedian(numeric[train_idx, bedrooms].numpy()))
    numeric[:, bedrooms] = torch.nan_to_num(numeric[:, bedrooms], nan=fill)
    targets = table.numbers("median_house_value").unsqueeze(1)  # (N, 1)
    _no_missing(table, torch.cat([numeric, targets], dim=1), CALIFORNIA_NUMERIC + ("median_house_value",))
    inputs = torch.cat([numeric, _one_hot(table, "ocean_proximity", OCEAN_PROXIMITY)], dim=1)  # (N, 13)
    meta = {"feature_names": CALIFORNIA_FEATURES, "target_name": "median_house_value",
            "source": str(path), "total_bedrooms_fill": fill}
    data = TensorData(inputs.float(), targets.float(), (), "california-housing", meta)
    return _split(data, split)


# ---------------------------------------------------------------------------------------------
# Standardisation, fitted on the training rows
# ---------------------------------------------------------------------------------------------


def standardize(train: TensorData, *others: TensorData) -> tuple[list[TensorData], StandardScaler]:
    """Standardise the inputs of `train` and of every other set with statistics from `train` only.

    Targets are left as they are. Returns ([train, *others] standardised, the fitted StandardScaler).
    """
    scaler = StandardScaler.fit(train.inputs)
    out = [TensorData(scaler.transform(d.inputs), d.targets, d.classes, d.name, dict(d.meta)) for d in (train, *others)]
    return out, scaler
