"""vanishing-gradient: the RNN's gradient dies over 100 steps; gates that lean to "keep" carry it further; through
15 sigmoid layers the gradient shrinks by less than a quarter per layer."""

from __future__ import annotations

import math

import pytest
import torch

from layerlab.errors import LayerlabError
from layerlab.viz.explain import explain
from layerlab.viz.explain.vanishing import input_gradients, make_layer, vanishing_numbers


@pytest.fixture(scope="module")
def numbers() -> dict:
    return vanishing_numbers(100)


def test_rnn_gradient_at_the_first_step_is_orders_of_magnitude_below_the_last(numbers):
    for log_ratio in numbers["rnn_default"]["log10_ratio_first_to_last"]:   # every seed
        assert log_ratio < -15                                              # measured: -19.5 .. -29.1


def test_gated_cells_with_keep_gates_open_lose_far_fewer_orders_than_the_rnn(numbers):
    rnn = numbers["rnn_default"]["log10_ratio_first_to_last"]
    for cell in ("lstm", "gru"):
        for seed, log_ratio in enumerate(numbers[f"{cell}_keep_open"]["log10_ratio_first_to_last"]):
            assert log_ratio > rnn[seed] + 8          # measured: 11 .. 21 orders better per seed
            assert log_ratio > -12


def test_at_torch_default_init_the_gated_cells_still_decay_geometrically(numbers):
    # the honest caveat: gates at bias 0 (f ≈ z ≈ 0.5) forget nearly as fast as the RNN
    for cell in ("lstm", "gru"):
        for log_ratio in numbers[f"{cell}_default"]["log10_ratio_first_to_last"]:
            assert -25 < log_ratio < -15


def test_gradient_norms_match_a_finite_difference():
    layer = make_layer("gru", 1.0, seed=3)
    x = torch.randn(1, 12, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    norms = input_gradients(layer, x)
    step, eps = torch.zeros_like(x), 1e-6
    step[0, 2, 1] = eps                                   # nudge one input at t = 2
    with torch.no_grad():
        slope = (layer(x + step)[0][0, -1].sum() - layer(x - step)[0][0, -1].sum()) / (2 * eps)
    assert abs(slope.item()) <= norms[2].item() + 1e-9    # one component of the gradient's norm
    assert norms[-1] > norms[0]


def test_length_is_checked(tmp_path):
    with pytest.raises(LayerlabError, match="LENGTH must be at most 200"):
        explain("vanishing-gradient", ["500"], out=tmp_path / "v.png")
    result = explain("vanishing-gradient", ["20"], out=tmp_path / "v.png")
    assert result.numbers["length"] == 20 and len(result.numbers["gru_keep_open"]["norm_per_step"]) == 20
    assert "orders of magnitude lost" in result.text


def test_the_numbers_leave_torchs_global_random_state_alone_and_repeat():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = vanishing_numbers(12, seeds=2)
    assert torch.equal(torch.get_rng_state(), before)
    assert vanishing_numbers(12, seeds=2) == first


def test_layers_get_torchs_default_weights_for_their_seed():
    # the same weights torch.manual_seed(seed) + nn.LSTM(...) would give, so the documented figures stand
    torch.manual_seed(3)
    expected = torch.nn.LSTM(4, 32, batch_first=True).double()
    layer = make_layer("lstm", None, seed=3)
    for (name, ours), theirs in zip(layer.named_parameters(), expected.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0, msg=name)


# --- `layers`: through the depth of an MLP ------------------------------------------------------


def test_through_15_sigmoid_layers_the_gradient_shrinks_under_a_quarter_per_layer_tanh_and_relu_keep_it():
    from layerlab.viz.explain.vanishing import depth_numbers

    torch.manual_seed(7)
    before = torch.get_rng_state()
    numbers = depth_numbers(15)
    assert torch.equal(torch.get_rng_state(), before)            # its own generators only
    sigmoid = numbers["sigmoid"]
    assert sigmoid["shrink_per_layer"] < 0.25                    # measured 0.234
    assert sigmoid["log10_first_over_last"] < 14 * math.log10(0.25)   # below 0.25^14: measured -8.8
    assert 0.9 < numbers["relu"]["shrink_per_layer"] < 1.1       # measured 0.99
    assert numbers["tanh"]["shrink_per_layer"] > 0.9             # measured 1.08
    assert len(sigmoid["norm_per_layer"]) == 15


def test_layers_mode_checks_its_depth_and_writes_its_figure(tmp_path):
    with pytest.raises(LayerlabError, match="DEPTH must be at most 30"):
        explain("vanishing-gradient", ["layers", "40"], out=tmp_path / "v.png")
    with pytest.raises(LayerlabError, match="DEPTH must be >= 3"):
        explain("vanishing-gradient", ["layers", "2"], out=tmp_path / "v.png")
    result = explain("vanishing-gradient", ["layers", "5"], out=tmp_path / "v.png")
    assert result.numbers["depth"] == 5 and len(result.numbers["relu"]["norm_per_layer"]) == 5
    assert "sigmoid  x0." in result.text and (tmp_path / "v.png").stat().st_size > 10_000
