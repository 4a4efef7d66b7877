"""Scalers: put every column on a common scale with statistics from the TRAINING rows only.

One family for every reader (house prices, stock prices): x -> (x - shift) / spread, column by
column, where
- `StandardScaler`: shift = mean, spread = population std (divide by N, as scikit-learn does);
  the training columns get mean 0 and std 1;
- `MinMaxScaler`: shift = min, spread = max - min; the training range becomes [0, 1].

Fitting on the training rows alone is the point: statistics that saw the test rows would leak the
test set into training. A column that is constant in the training rows has spread 0; it is
divided by 1 instead, so it maps to 0 rather than to inf/NaN.

`state_dict()` is plain lists (mean/std or min/max, plus the kind), so a dataset's meta and a
run's model card can store a scaler as JSON; `scaler_from_state` rebuilds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

import torch
from torch import Tensor

from layerlab.errors import LayerlabError


@dataclass(frozen=True)
class Scaler:
    """x -> (x - shift) / spread per column; `shift` and `spread` are (F,) float64 statistics."""

    shift: Tensor
    spread: Tensor

    kind: ClassVar[str] = ""
    keys: ClassVar[tuple[str, str]] = ("shift", "spread")  # the names of shift and spread in a state
    rule: ClassVar[str] = "spread >= 0"  # what a state's numbers must satisfy, for the error message

    @classmethod
    def fit(cls, rows: Tensor) -> Self:
        """Statistics of the training `rows` (N, F), one per column."""
        if rows.dim() != 2 or len(rows) == 0:
            raise LayerlabError(f"a {cls.__name__} fits rows of shape (N, F) with N >= 1, got {tuple(rows.shape)}")
        rows = rows.double()
        if torch.isnan(rows).any():
            raise LayerlabError(f"a {cls.__name__} cannot fit rows with missing (NaN) values; fill them first")
        return cls(*cls._statistics(rows))

    @staticmethod
    def _statistics(rows: Tensor) -> tuple[Tensor, Tensor]:
        raise TypeError("use StandardScaler or MinMaxScaler")  # a bug, never a user's mistake

    def _params(self, x: Tensor, column: int | None) -> tuple[Tensor, Tensor]:
        width = 1 if column is not None else len(self.shift)
        if x.shape[-1] != width:
            raise LayerlabError(f"this {type(self).__name__} was fitted on {len(self.shift)} columns; got {x.shape[-1]}")
        pick = slice(None) if column is None else slice(column, column + 1)
        shift, spread = self.shift[pick].to(x), self.spread[pick].to(x)
        return shift, torch.where(spread == 0, torch.ones_like(spread), spread)  # a constant column stays finite

    def transform(self, x: Tensor, column: int | None = None) -> Tensor:
        """Scale every column of x (..., F), or a (..., 1) tensor with the statistics of `column`."""
        shift, spread = self._params(x, column)
        return (x - shift) / spread

    def inverse_transform(self, z: Tensor, column: int | None = None) -> Tensor:
        """Back to the data's own units (dollars for prices): z * spread + shift."""
        shift, spread = self._params(z, column)
        return z * spread + shift

    def state_dict(self) -> dict[str, Any]:
        """{"kind": ..., <shift name>: [...], <spread name>: [...]}: plain lists, for JSON."""
        first, second = self._state_values()
        return {"kind": self.kind, self.keys[0]: first, self.keys[1]: second}

    def _state_values(self) -> tuple[list[float], list[float]]:
        return self.shift.tolist(), self.spread.tolist()

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """Rebuild a fitted scaler from its `state_dict()`, checking it first."""
        try:
            first = torch.tensor(state[cls.keys[0]], dtype=torch.float64)
            second = torch.tensor(state[cls.keys[1]], dtype=torch.float64)
        except (KeyError, TypeError, ValueError):
            raise LayerlabError(
                f"a {cls.kind} scaler state needs number lists {cls.keys[0]!r} and {cls.keys[1]!r}, got {sorted(state)}"
            ) from None
        shift, spread = cls._from_state_values(first, second)
        ok = shift.dim() == 1 and shift.shape == spread.shape and bool(torch.isfinite(shift).all())
        if not ok or not bool(torch.isfinite(spread).all()) or bool((spread < 0).any()):
            raise LayerlabError(
                f"a {cls.kind} scaler state needs equally long {cls.keys[0]!r} and {cls.keys[1]!r} lists of "
                f"finite numbers with {cls.rule}"
            )
        return cls(shift, spread)

    @staticmethod
    def _from_state_values(first: Tensor, second: Tensor) -> tuple[Tensor, Tensor]:
        return first, second


class StandardScaler(Scaler):
    """x -> (x - mean) / std per column, with the population std (as scikit-learn computes it)."""

    kind = "standard"
    keys = ("mean", "std")
    rule = "std >= 0"

    @staticmethod
    def _statistics(rows: Tensor) -> tuple[Tensor, Tensor]:
        return rows.mean(dim=0), rows.std(dim=0, correction=0)  # (F,), (F,)

    @property
    def mean(self) -> Tensor:
        return self.shift

    @property
    def std(self) -> Tensor:
        return self.spread


class MinMaxScaler(Scaler):
    """x -> (x - min) / (max - min) per column: the training range becomes [0, 1]."""

    kind = "minmax"
    keys = ("min", "max")
    rule = "max >= min"

    @staticmethod
    def _statistics(rows: Tensor) -> tuple[Tensor, Tensor]:
        low, high = rows.min(dim=0).values, rows.max(dim=0).values  # (F,), (F,)
        return low, high - low

    def _state_values(self) -> tuple[list[float], list[float]]:
        return self.shift.tolist(), (self.shift + self.spread).tolist()

    @staticmethod
    def _from_state_values(first: Tensor, second: Tensor) -> tuple[Tensor, Tensor]:
        return first, second - first if first.shape == second.shape else second


SCALERS: dict[str, type[Scaler]] = {"standard": StandardScaler, "minmax": MinMaxScaler}


def get_scaler(kind: str) -> type[Scaler]:
    """The scaler class registered as `kind` ("standard" or "minmax")."""
    if kind not in SCALERS:
        raise LayerlabError(f"expected a scaler in {', '.join(SCALERS)}, got {kind!r}")
    return SCALERS[kind]


def scaler_from_state(state: dict[str, Any]) -> Scaler:
    """Rebuild any scaler from its `state_dict()` (e.g. a dataset's meta or a saved run)."""
    if not isinstance(state, dict) or state.get("kind") not in SCALERS:
        kind = state.get("kind") if isinstance(state, dict) else state
        raise LayerlabError(f"expected a scaler state of kind {', '.join(SCALERS)}, got {kind!r}")
    return SCALERS[state["kind"]].from_state(state)
