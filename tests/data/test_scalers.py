"""One family of scalers (layerlab.data.scalers): values by hand, inverses, plain-list states."""

from __future__ import annotations

import json

import pytest
import torch

from layerlab.data.scalers import MinMaxScaler, StandardScaler, get_scaler, scaler_from_state
from layerlab.errors import LayerlabError


def test_standard_scaler_gives_mean_0_std_1_and_inverts() -> None:
    x = torch.tensor([[1.0, 10.0, 5.0], [2.0, 30.0, 5.0], [6.0, 50.0, 5.0]])
    scaler = StandardScaler.fit(x)
    z = scaler.transform(x)
    torch.testing.assert_close(z[:, :2].mean(dim=0), torch.zeros(2), atol=1e-6, rtol=0)
    torch.testing.assert_close(z[:, :2].std(dim=0, correction=0), torch.ones(2))  # population std, as sklearn
    assert z[:, 2].tolist() == [0.0, 0.0, 0.0]  # constant column: divided by 1, not by 0
    assert scaler.mean.tolist() == [3.0, 30.0, 5.0]
    torch.testing.assert_close(scaler.inverse_transform(z), x)


def test_minmax_and_standard_values_by_hand() -> None:
    x = torch.tensor([[2.0], [4.0], [6.0]], dtype=torch.float64)
    assert MinMaxScaler.fit(x).transform(x)[:, 0].tolist() == [0.0, 0.5, 1.0]
    assert MinMaxScaler.fit(x).transform(torch.tensor([[8.0]])).tolist() == [[1.5]]  # beyond the training range
    standard = StandardScaler.fit(x)
    assert standard.state_dict() == {"kind": "standard", "mean": [4.0], "std": [pytest.approx((8 / 3) ** 0.5)]}
    assert MinMaxScaler.fit(torch.ones(3, 1)).transform(torch.ones(2, 1)).tolist() == [[0.0], [0.0]]


@pytest.mark.parametrize("kind", ["minmax", "standard"])
def test_states_are_plain_lists_that_survive_json_and_rebuild_the_scaler(kind: str) -> None:
    x = torch.tensor([[1.0, 10.0], [3.0, 30.0], [5.0, 20.0]], dtype=torch.float64)
    scaler = get_scaler(kind).fit(x)
    state = json.loads(json.dumps(scaler.state_dict()))
    rebuilt = scaler_from_state(state)
    assert type(rebuilt) is type(scaler)
    torch.testing.assert_close(rebuilt.inverse_transform(rebuilt.transform(x)), x)
    # one column alone, with that column's statistics: how a predicted price returns to dollars
    torch.testing.assert_close(rebuilt.transform(x[:, 1:], column=1), scaler.transform(x)[:, 1:])


def test_the_minmax_state_names_min_and_max() -> None:
    scaler = MinMaxScaler.fit(torch.tensor([[1.0, 10.0], [3.0, 30.0]]))
    assert scaler.state_dict() == {"kind": "minmax", "min": [1.0, 10.0], "max": [3.0, 30.0]}


def test_bad_input_and_bad_states_are_one_line_errors() -> None:
    scaler = StandardScaler.fit(torch.tensor([[1.0, 2.0], [3.0, 8.0]]))
    with pytest.raises(LayerlabError, match="fitted on 2 columns; got 3"):
        scaler.transform(torch.zeros(1, 3))
    with pytest.raises(LayerlabError, match=r"rows of shape \(N, F\) with N >= 1, got \(0, 2\)"):
        StandardScaler.fit(torch.zeros(0, 2))
    with pytest.raises(LayerlabError, match="missing"):
        MinMaxScaler.fit(torch.tensor([[1.0], [float("nan")]]))
    with pytest.raises(LayerlabError, match="std >= 0"):
        scaler_from_state({"kind": "standard", "mean": [0.0], "std": [-1.0]})
    with pytest.raises(LayerlabError, match="max >= min"):
        scaler_from_state({"kind": "minmax", "min": [2.0], "max": [1.0]})
    with pytest.raises(LayerlabError, match="needs number lists 'mean' and 'std'"):
        scaler_from_state({"kind": "standard", "mean": [0.0]})
    with pytest.raises(LayerlabError, match="kind standard, minmax, got 'robust'"):
        scaler_from_state({"kind": "robust"})
    with pytest.raises(LayerlabError, match="expected a scaler in standard, minmax, got 'max'"):
        get_scaler("max")
