"""From-scratch RNN/LSTM/GRU against torch.nn: same weights in, same outputs and gradients out."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from layerlab.errors import LayerlabError
from layerlab.models import get_model
from layerlab.models.registry import MODELS, example_input
from layerlab.models.rnn import (
    GRUCell,
    LSTMCell,
    RNNCell,
    ScratchGRU,
    ScratchLSTM,
    ScratchRNN,
    SequenceConfig,
    SequenceRegressor,
)

PAIRS = {"rnn": (ScratchRNN, nn.RNN), "lstm": (ScratchLSTM, nn.LSTM), "gru": (ScratchGRU, nn.GRU)}
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}


def _copied_pair(kind: str, dtype: torch.dtype, batch_first: bool, **kw: object) -> tuple[nn.Module, nn.Module]:
    """A torch layer and a scratch layer holding the same weights (copied torch -> scratch)."""
    scratch_cls, torch_cls = PAIRS[kind]
    theirs = torch_cls(3, 5, num_layers=2, batch_first=batch_first, **kw).to(dtype)
    ours = scratch_cls(3, 5, num_layers=2, batch_first=batch_first, **kw).to(dtype)
    ours.load_state_dict(theirs.state_dict())   # strict: every name must match
    return ours, theirs


def _run(layer: nn.Module, x: torch.Tensor, state: object) -> list[torch.Tensor]:
    """Forward + backward of a fixed random loss; returns outputs, final states and all gradients."""
    output, final = layer(x, state)
    finals = list(final) if isinstance(final, tuple) else [final]
    weights = torch.linspace(-1, 1, output.numel(), dtype=x.dtype).view_as(output)
    loss = (output * weights).sum() + sum((f ** 2).sum() for f in finals)
    inputs = [x] + (list(state) if isinstance(state, tuple) else [state])
    grads = torch.autograd.grad(loss, inputs + list(layer.parameters()))
    return [output.detach(), *[f.detach() for f in finals], *grads]


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch_first", [True, False])
def test_scratch_layer_matches_torch_outputs_and_gradients(kind: str, dtype: torch.dtype, batch_first: bool) -> None:
    torch.manual_seed(0)
    ours, theirs = _copied_pair(kind, dtype, batch_first)
    B, T = 4, 7
    x = torch.randn((B, T, 3) if batch_first else (T, B, 3), dtype=dtype, requires_grad=True)
    h0 = torch.randn(2, B, 5, dtype=dtype, requires_grad=True)
    state = (h0, torch.randn(2, B, 5, dtype=dtype, requires_grad=True)) if kind == "lstm" else h0
    tol = TOLERANCE[dtype]
    for mine, ref in zip(_run(ours, x, state), _run(theirs, x, state), strict=True):
        torch.testing.assert_close(mine, ref, atol=tol, rtol=tol)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_weights_copy_both_ways_and_none_state_means_zeros(kind: str) -> None:
    torch.manual_seed(1)
    ours, theirs = _copied_pair(kind, torch.float64, True)
    theirs.load_state_dict(ours.state_dict())              # scratch -> torch also loads strictly
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    zeros = torch.zeros(2, 2, 5, dtype=torch.float64)
    state = (zeros, zeros) if kind == "lstm" else zeros
    torch.testing.assert_close(ours(x)[0], theirs(x, state)[0], atol=1e-12, rtol=0)


def test_scratch_rnn_relu_and_no_bias_match_torch() -> None:
    torch.manual_seed(2)
    ours, theirs = _copied_pair("rnn", torch.float64, False, nonlinearity="relu", bias=False)
    x = torch.randn(5, 3, 3, dtype=torch.float64)
    assert not any("bias" in name for name in ours.state_dict())
    torch.testing.assert_close(ours(x)[0], theirs(x)[0], atol=1e-12, rtol=0)


@pytest.mark.parametrize(("ours_cls", "torch_cls"), [(RNNCell, nn.RNNCell), (LSTMCell, nn.LSTMCell), (GRUCell, nn.GRUCell)])
def test_scratch_cells_match_torch_cells(ours_cls: type, torch_cls: type) -> None:
    torch.manual_seed(3)
    theirs = torch_cls(3, 4).double()
    ours = ours_cls(3, 4).double()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(6, 3, dtype=torch.float64)
    h = torch.randn(6, 4, dtype=torch.float64)
    state = (h, torch.randn(6, 4, dtype=torch.float64)) if ours_cls is LSTMCell else h
    torch.testing.assert_close(ours(x, state), theirs(x, state), atol=1e-12, rtol=0)
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-12, rtol=0)   # None state: zeros


def test_lstm_cell_equations_by_hand() -> None:
    """One step with hand-picked weights: i=f=o=sigmoid(0)=0.5, g=tanh(1)."""
    cell = LSTMCell(1, 1).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.zero_()
        cell.bias_ih[2] = 1.0                 # only the candidate g gets a bias (order i, f, g, o)
    x = torch.zeros(1, 1, dtype=torch.float64)
    c_prev = torch.full((1, 1), 2.0, dtype=torch.float64)
    h, c = cell(x, (torch.zeros_like(c_prev), c_prev))
    g = torch.tanh(torch.tensor(1.0, dtype=torch.float64))
    assert c.item() == pytest.approx(0.5 * 2.0 + 0.5 * g.item())     # c = f·c_prev + i·g
    assert h.item() == pytest.approx(0.5 * torch.tanh(c).item())      # h = o·tanh(c)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_scratch_and_fast_models_share_state_dict_and_outputs(cell: str) -> None:
    torch.manual_seed(4)
    fast = get_model(cell, num_layers=2).double()
    scratch = get_model(f"{cell}-scratch", num_layers=2).double()
    scratch.load_state_dict(fast.state_dict())
    x = torch.randn(3, 30, 1, dtype=torch.float64)
    torch.testing.assert_close(scratch(x), fast(x), atol=1e-10, rtol=0)
    assert scratch(x).shape == (3, 1)


def test_many_to_many_and_classification_heads() -> None:
    tagger = SequenceRegressor(SequenceConfig(cell="gru", input_size=4, output_size=7, many_to_many=True))
    classifier = get_model("lstm", input_size=4, head=[16, 8], output_size=3)
    x = torch.randn(5, 9, 4)
    assert tagger(x).shape == (5, 9, 7)                    # one prediction per time step
    assert classifier(x).shape == (5, 3)                   # logits from the last hidden state
    assert [m.out_features for m in classifier.head if isinstance(m, nn.Linear)] == [16, 8, 3]


def test_given_h0_changes_the_output_and_zeros_equal_none() -> None:
    torch.manual_seed(5)
    model = get_model("lstm")
    x = torch.randn(2, 3, 1)   # short: after ~30 steps an untrained LSTM has all but forgotten h0
    zeros = model.initial_state(2, x)
    torch.testing.assert_close(model(x, zeros), model(x))
    h0 = (torch.ones(1, 2, 64), torch.ones(1, 2, 64))
    assert not torch.allclose(model(x, h0), model(x))


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru", "rnn-scratch", "lstm-scratch", "gru-scratch", "char-lstm"])
def test_registered_sequence_models_run_and_have_documented_size(name: str) -> None:
    entry = MODELS.get(name)
    model = get_model(name)
    out = model(example_input(entry, batch_size=2))
    out.float().sum().backward()
    assert sum(p.numel() for p in model.parameters()) == entry.meta["num_params"]


def test_char_lstm_logits_and_generation() -> None:
    torch.manual_seed(6)
    model = get_model("char-lstm", vocab_size=11, hidden_size=16, embedding_dim=8)
    ids = torch.randint(0, 11, (3, 12))
    assert model(ids).shape == (3, 12, 11)
    g = torch.Generator().manual_seed(0)
    sample = model.generate(torch.tensor([1, 2, 3]), steps=10, generator=g)
    assert sample.shape == (13,) and sample[:3].tolist() == [1, 2, 3]
    assert int(sample.max()) < 11


def test_unknown_cell_and_config_field_are_clear_errors() -> None:
    with pytest.raises(LayerlabError, match="rnn, lstm, gru"):
        SequenceRegressor(SequenceConfig(cell="transformer"))
    with pytest.raises(LayerlabError, match="does not accept"):
        get_model("lstm", hiden_size=3)
