"""Properties every split must have, for any size and seed (Hypothesis draws them): parts are disjoint
and cover every row exactly once, validation rows are never trained on, a seed always gives the same
split, and a chronological split never puts a later day in an earlier part."""

from __future__ import annotations

import datetime as dt

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from layerlab.data import TensorData, kfold_indices, split_indices, train_val_split
from layerlab.data.timeseries import DatedTable, chronological_split, part_windows, windowed_split
from layerlab.errors import LayerlabError

FAST = settings(max_examples=40, deadline=None)


@st.composite
def rows_and_k(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(2, 60))
    return n, draw(st.integers(2, min(n, 10)))


@FAST
@given(rows_and_k(), st.integers(0, 2**31 - 1))
def test_kfold_validates_every_row_exactly_once_and_never_trains_on_it(nk: tuple[int, int], seed: int) -> None:
    n, k = nk
    folds = kfold_indices(n, k, seed)
    assert len(folds) == k
    validated = torch.cat([val for _, val in folds])
    assert sorted(validated.tolist()) == list(range(n))                  # disjoint and covering
    for train, val in folds:
        assert set(train.tolist()).isdisjoint(val.tolist())             # train ∩ validation = ∅
        assert sorted(torch.cat([train, val]).tolist()) == list(range(n))   # together: every row once
    sizes = [len(val) for _, val in folds]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)   # as even as can be, like KFold


@FAST
@given(rows_and_k(), st.integers(0, 2**31 - 1))
def test_kfold_is_a_function_of_the_seed(nk: tuple[int, int], seed: int) -> None:
    n, k = nk
    again = kfold_indices(n, k, seed)
    for (train, val), (train2, val2) in zip(kfold_indices(n, k, seed), again):
        assert torch.equal(train, train2) and torch.equal(val, val2)


def test_kfold_of_different_seeds_differs_and_bad_k_is_one_line() -> None:
    assert not torch.equal(kfold_indices(30, 3, seed=0)[0][1], kfold_indices(30, 3, seed=1)[0][1])
    assert [len(val) for _, val in kfold_indices(10, 3)] == [4, 3, 3]
    defaults = kfold_indices(10)                                          # 5 folds, seed 0
    assert len(defaults) == 5 and all(torch.equal(a[1], b[1]) for a, b in zip(defaults, kfold_indices(10, 5, seed=0)))
    assert [len(val) for _, val in kfold_indices(3, 3)] == [1, 1, 1]      # leave-one-out: k = n is allowed
    for n, k in ((5, 1), (3, 4)):
        with pytest.raises(LayerlabError, match=rf"^k-fold needs 2 <= k <= number of rows \({n}\), got k={k}$"):
            kfold_indices(n, k)


@FAST
@given(st.integers(2, 200), st.floats(0.01, 0.99), st.integers(0, 2**31 - 1))
def test_a_train_validation_split_is_disjoint_covering_and_seeded(n: int, fraction: float, seed: int) -> None:
    train, val = split_indices(n, fraction, seed)
    assert sorted(torch.cat([train, val]).tolist()) == list(range(n))
    assert len(val) == min(n - 1, max(1, round(n * fraction)))         # the fraction, at least one row each side
    again = split_indices(n, fraction, seed)
    assert torch.equal(train, again[0]) and torch.equal(val, again[1])


@FAST
@given(st.integers(3, 120), st.floats(0.05, 0.45), st.floats(0.05, 0.45), st.integers(0, 1000))
def test_train_val_test_from_two_splits_are_disjoint_and_cover(n: int, test: float, val: float, seed: int) -> None:
    """The labs' recipe: hold out a test part, then a validation part of the rest."""
    data = TensorData(torch.arange(n).float().unsqueeze(1), torch.arange(n))
    rest, test_part = train_val_split(data, test, seed)
    train_part, val_part = train_val_split(rest, val, seed + 1)
    parts = [train_part.targets.tolist(), val_part.targets.tolist(), test_part.targets.tolist()]
    assert sorted(sum(parts, [])) == list(range(n))
    for part in (train_part, val_part, test_part):
        assert torch.equal(part.inputs.squeeze(1).long(), part.targets)   # rows stay paired with their targets


def test_split_fraction_must_lie_strictly_between_0_and_1() -> None:
    for fraction in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(LayerlabError, match=rf"^a split fraction must lie strictly between 0 and 1, got {fraction}$"):
            split_indices(10, fraction)
    assert [len(part) for part in split_indices(10, 0.1)] == [9, 1]
    assert [len(part) for part in split_indices(100, 0.001)] == [99, 1]   # at least one validation row
    assert [len(part) for part in split_indices(2, 0.75)] == [1, 1]       # and at least one training row
    assert [len(part) for part in split_indices(3, 0.9)] == [1, 2]
    for n in (0, 1):
        with pytest.raises(LayerlabError, match=rf"^a split into two parts needs at least 2 rows, got {n}$"):
            split_indices(n, 0.5)
    assert not torch.equal(split_indices(30, 0.5, seed=0)[1], split_indices(30, 0.5, seed=1)[1])
    data = TensorData(torch.arange(10).float().unsqueeze(1), torch.arange(10), classes=("x",), name="rows")
    train, val = train_val_split(data)                                    # default: a tenth held out, seed 0
    assert (len(train), len(val)) == (9, 1) and torch.equal(val.targets, split_indices(10, 0.1, 0)[1])
    assert torch.equal(split_indices(10, 0.5)[1], split_indices(10, 0.5, seed=0)[1])
    assert torch.equal(train_val_split(data, 0.5, seed=3)[1].targets, split_indices(10, 0.5, seed=3)[1])
    assert train.classes == ("x",) and val.name == "rows"


@st.composite
def fractions(draw: st.DrawFn, parts: tuple[int, int] = (2, 4)) -> tuple[float, ...]:
    weights = draw(st.lists(st.integers(1, 20), min_size=parts[0], max_size=parts[1]))
    return tuple(w / sum(weights) for w in weights)


@FAST
@given(st.integers(0, 300), fractions())
def test_a_chronological_split_keeps_every_part_before_the_next(n: int, parts: tuple[float, ...]) -> None:
    slices = chronological_split(n, parts)
    assert len(slices) == len(parts) and slices[0].start == 0 and slices[-1].stop == n
    for earlier, later in zip(slices, slices[1:]):
        assert earlier.start <= earlier.stop == later.start               # contiguous, oldest first
    for part, fraction in zip(slices, parts):
        assert abs((part.stop - part.start) - n * fraction) <= 1          # each part holds its fraction


@FAST
@given(st.integers(1, 6), st.integers(1, 3), fractions(), st.booleans())
def test_windows_read_only_the_past_and_targets_stay_in_their_part(window: int, horizon: int,
                                                                   parts: tuple[float, ...], context: bool) -> None:
    series = torch.arange(80, dtype=torch.float64).unsqueeze(1)           # value = row index: shows what is read
    for part in chronological_split(80, parts):
        first_read = max(0, part.start - window - horizon + 1) if context else part.start
        if part.stop - first_read < window + horizon:
            continue                                                       # too short for one window
        inputs, targets, rows = part_windows(series, part, window, horizon, context=context)
        assert torch.equal(targets.squeeze(1).long(), rows)                 # target i is row rows[i]
        assert bool((rows >= part.start).all() and (rows < part.stop).all())
        assert torch.equal(inputs[:, -1, 0].long(), rows - horizon)          # the last day read is `horizon` back
        assert torch.equal(inputs[:, 0, 0].long(), rows - horizon - window + 1)
        assert int(inputs.min()) == first_read                               # context: the days just before


@FAST
@given(st.integers(45, 120), fractions((3, 3)), st.integers(1, 5))
def test_windowed_splits_date_every_target_after_every_earlier_parts_target(days: int, parts: tuple[float, ...],
                                                                           window: int) -> None:
    dates = [dt.date.fromordinal(738_000 + day).isoformat() for day in range(days)]
    table = DatedTable(dates, torch.randn(days, 1, dtype=torch.float64), ("Close",))
    seen: list[str] = []
    for split in ("train", "val", "test"):
        try:
            part_dates = windowed_split(table, split, window=window, fractions=parts).meta["dates"]
        except LayerlabError:
            continue                                                        # a part too short for one window
        assert part_dates == sorted(part_dates) and (not seen or seen[-1] < part_dates[0])
        seen += part_dates
