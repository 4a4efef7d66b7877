"""Recurrent networks from the equations up: RNN, LSTM, GRU. Course unit: RNN (5주차).

What to notice: one set of weights is reused at every time step (같은 가중치를 모든 시점에서 공유):
    h_t = tanh(W·x_t + U·h_{t-1} + b)
where W is `weight_ih` (input -> hidden) and U is `weight_hh` (hidden -> hidden). LSTM and GRU
add gates, small sigmoid "valves" that decide what to keep, which is how they carry information
across long sequences (the long-term dependency problem, 장기 의존성 문제).

The from-scratch cells and layers below use exactly torch.nn's parameter layout and names
(`weight_ih_l0`, gate order i,f,g,o for LSTM and r,z,n for GRU), so weights copy both ways with
`load_state_dict` and tests/models/test_rnn.py proves outputs and gradients agree with
torch.nn.RNN/LSTM/GRU. The scratch layers are for reading; the registered "rnn"/"lstm"/"gru"
use torch's fused kernels with the same head, for speed.

A default "lstm" regressor (30 days of 1 feature -> next day) has 17,152 recurrent parameters
(4 gates x (64·1 + 64·64 + 64 + 64)) plus a 64-32-1 head (2,113): 19,265 in all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from layerlab.errors import LayerlabError
from layerlab.models.registry import register_model

LSTMState = tuple[Tensor, Tensor]  # (h, c): hidden state and cell state (장기 기억)


# ---------------------------------------------------------------------------------------------
# 1. Cells: one time step. `step` holds the equations; the layers below reuse it.
# ---------------------------------------------------------------------------------------------

class _Cell(nn.Module):
    """Weights of one recurrent cell in torch.nn.*Cell layout: all gates stacked row-wise."""

    num_gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        rows = self.num_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size))   # W: input -> gates
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size))  # U: hidden -> gates
        self.bias_ih = nn.Parameter(torch.empty(rows)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(rows)) if bias else None
        _init_uniform(self, hidden_size)

    def weights(self) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def zeros(self, batch_size: int, like: Tensor) -> Tensor:
        return like.new_zeros(batch_size, self.hidden_size)


def _init_uniform(module: nn.Module, hidden_size: int) -> None:
    # torch.nn's initialisation: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H))
    bound = 1.0 / math.sqrt(hidden_size)
    for p in module.parameters():
        nn.init.uniform_(p, -bound, bound)


class RNNCell(_Cell):
    """Vanilla (Elman) RNN cell: h_t = tanh(W·x_t + b_ih + U·h_{t-1} + b_hh)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh") -> None:
        super().__init__(input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity

    @staticmethod
    def step(x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None,
             nonlinearity: str = "tanh") -> Tensor:
        pre = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)   # W·x_t + b_ih + U·h_{t-1} + b_hh: (B, H)
        return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:   # x: (B, I), h: (B, H)
        h = self.zeros(len(x), x) if h is None else h                     # None means zeros
        return self.step(x, h, *self.weights(), self.nonlinearity)      # (B, H)


class LSTMCell(_Cell):
    """Long Short-Term Memory cell (Hochreiter & Schmidhuber, 1997), gates in torch's order i,f,g,o."""

    num_gates = 4

    @staticmethod
    def step(x: Tensor, state: LSTMState, w_ih: Tensor, w_hh: Tensor,
             b_ih: Tensor | None, b_hh: Tensor | None) -> LSTMState:
        h, c = state
        gates = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)   # all four gates at once: (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)                          # each (B, H)
        i = torch.sigmoid(i)     # input gate: how much of the new candidate to write
        f = torch.sigmoid(f)     # forget gate: how much of the old cell state to keep
        g = torch.tanh(g)        # candidate values
        o = torch.sigmoid(o)     # output gate: how much of the cell to show as h
        c = f * c + i * g        # c_t = f ⊙ c_{t-1} + i ⊙ g   (the additive path that keeps gradients alive)
        h = o * torch.tanh(c)    # h_t = o ⊙ tanh(c_t)
        return h, c

    def forward(self, x: Tensor, state: LSTMState | None = None) -> LSTMState:   # x: (B, I)
        if state is None:                                                         # None means zeros
            state = (self.zeros(len(x), x), self.zeros(len(x), x))
        return self.step(x, state, *self.weights())                               # (B, H), (B, H)


class GRUCell(_Cell):
    """Gated Recurrent Unit (Cho et al., 2014), gates in torch's order r,z,n."""

    num_gates = 3

    @staticmethod
    def step(x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None, b_hh: Tensor | None) -> Tensor:
        x_r, x_z, x_n = F.linear(x, w_ih, b_ih).chunk(3, dim=1)   # input parts of the 3 gates: (B, H) each
        h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, dim=1)   # hidden parts
        r = torch.sigmoid(x_r + h_r)       # reset gate: how much of the past feeds the candidate
        z = torch.sigmoid(x_z + h_z)       # update gate: how much of the old state to keep
        n = torch.tanh(x_n + r * h_n)      # candidate; torch applies r after U·h + b_hn
        return (1 - z) * n + z * h         # h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

    def forward(self, x: Tensor, h: Tensor | None = None) -> Tensor:   # x: (B, I), h: (B, H)
        h = self.zeros(len(x), x) if h is None else h                     # None means zeros
        return self.step(x, h, *self.weights())                          # (B, H)


# ---------------------------------------------------------------------------------------------
# 2. Layers: the cell unrolled over time, stacked num_layers deep, with torch.nn.RNN's API.
# ---------------------------------------------------------------------------------------------

class _ScratchLayer(nn.Module):
    """A Python loop over time steps and layers; parameters named exactly like torch.nn.RNN's."""

    num_gates = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, dropout
        rows = self.num_gates * hidden_size
        for k in range(num_layers):
            layer_input = input_size if k == 0 else hidden_size   # layer k reads layer k-1's h
            setattr(self, f"weight_ih_l{k}", nn.Parameter(torch.empty(rows, layer_input)))
            setattr(self, f"weight_hh_l{k}", nn.Parameter(torch.empty(rows, hidden_size)))
            if bias:
                setattr(self, f"bias_ih_l{k}", nn.Parameter(torch.empty(rows)))
                setattr(self, f"bias_hh_l{k}", nn.Parameter(torch.empty(rows)))
        _init_uniform(self, hidden_size)

    def weights(self, k: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """Layer k's (W, U, b_ih, b_hh)."""
        w_ih, w_hh = getattr(self, f"weight_ih_l{k}"), getattr(self, f"weight_hh_l{k}")
        b_ih, b_hh = getattr(self, f"bias_ih_l{k}", None), getattr(self, f"bias_hh_l{k}", None)   # bias=False: none
        return w_ih, w_hh, b_ih, b_hh

    def _step(self, x: Tensor, state: Any, k: int) -> Any:
        raise TypeError("build ScratchRNN, ScratchLSTM or ScratchGRU, not the shared base")

    def _run(self, x: Tensor, states: list[Any]) -> tuple[Tensor, list[Any]]:
        """x: (T, B, I); states[k] is layer k's initial state. Returns (T, B, H) and final states."""
        finals = []
        for k in range(self.num_layers):
            state, outputs = states[k], []
            for t in range(len(x)):                       # the same weights at every time step
                state = self._step(x[t], state, k)
                outputs.append(state[0] if isinstance(state, tuple) else state)   # h_t: (B, H)
            x = torch.stack(outputs)                      # (T, B, H): the next layer's input sequence
            if self.dropout > 0 and k < self.num_layers - 1:
                x = F.dropout(x, self.dropout, self.training)   # between layers only, as torch does
            finals.append(state)
        return x, finals

    def forward(self, x: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """RNN and GRU: x (B, T, I) if batch_first else (T, B, I); h0 (L, B, H). Returns (output, h_n)."""
        x = self._time_major(x)                                          # (T, B, I)
        if h0 is None:                                                   # None means zeros
            h0 = x.new_zeros(self.num_layers, x.shape[1], self.hidden_size)
        output, finals = self._run(x, list(h0))                          # one (B, H) state per layer
        return self._batch_layout(output), torch.stack(finals)          # output, h_n: (L, B, H)

    def _time_major(self, x: Tensor) -> Tensor:
        if x.dim() != 3:
            raise ValueError(f"expected a batch of sequences (3 dims), got shape {tuple(x.shape)}")
        return x.transpose(0, 1) if self.batch_first else x   # (T, B, I)

    def _batch_layout(self, output: Tensor) -> Tensor:
        return output.transpose(0, 1) if self.batch_first else output


class ScratchRNN(_ScratchLayer):
    """Drop-in for torch.nn.RNN: forward(x, h0) -> (output, h_n)."""

    def __init__(self, *args: Any, nonlinearity: str = "tanh", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nonlinearity = nonlinearity

    def _step(self, x: Tensor, h: Tensor, k: int) -> Tensor:
        return RNNCell.step(x, h, *self.weights(k), self.nonlinearity)


class ScratchGRU(_ScratchLayer):
    """Drop-in for torch.nn.GRU: forward(x, h0) -> (output, h_n)."""

    num_gates = 3

    def _step(self, x: Tensor, h: Tensor, k: int) -> Tensor:
        return GRUCell.step(x, h, *self.weights(k))


class ScratchLSTM(_ScratchLayer):
    """Drop-in for torch.nn.LSTM: forward(x, (h0, c0)) -> (output, (h_n, c_n))."""

    num_gates = 4

    def _step(self, x: Tensor, state: LSTMState, k: int) -> LSTMState:
        return LSTMCell.step(x, state, *self.weights(k))

    def forward(self, x: Tensor, hx: LSTMState | None = None) -> tuple[Tensor, LSTMState]:
        x = self._time_major(x)                                          # (T, B, I)
        if hx is None:                                                   # None means zeros, for h and c
            zeros = x.new_zeros(self.num_layers, x.shape[1], self.hidden_size)
            hx = (zeros, zeros)
        h0, c0 = hx                                                      # (L, B, H) each
        output, finals = self._run(x, list(zip(h0, c0)))
        h_n = torch.stack([h for h, _ in finals])                        # (L, B, H)
        c_n = torch.stack([c for _, c in finals])                        # (L, B, H)
        return self._batch_layout(output), (h_n, c_n)


_LAYERS: dict[tuple[str, bool], type[nn.Module]] = {
    ("rnn", True): ScratchRNN, ("lstm", True): ScratchLSTM, ("gru", True): ScratchGRU,
    ("rnn", False): nn.RNN, ("lstm", False): nn.LSTM, ("gru", False): nn.GRU,
}


def recurrent_layer(cell: str, scratch: bool, input_size: int, hidden_size: int, num_layers: int = 1,
                    dropout: float = 0.0) -> nn.Module:
    """A batch-first recurrent layer: the from-scratch one or torch.nn's, with identical state_dict keys."""
    if (cell, scratch) not in _LAYERS:
        raise LayerlabError(f"cell must be one of rnn, lstm, gru; got {cell!r}")
    return _LAYERS[cell, scratch](input_size, hidden_size, num_layers, batch_first=True, dropout=dropout)


# ---------------------------------------------------------------------------------------------
# 3. Models: a recurrent layer + an MLP head (the course's Netflix stock model), and a char LM.
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SequenceConfig:
    cell: str = "lstm"              # "rnn" | "lstm" | "gru"
    scratch: bool = False           # True: the readable Python loop above; False: torch's fused kernel
    input_size: int = 1             # features per time step (1: the closing price)
    hidden_size: int = 64
    num_layers: int = 1
    head: tuple[int, ...] = (32,)   # hidden sizes of the MLP head ("출력 모양을 맞춰주기 위해 MLP")
    output_size: int = 1            # 1: next-day regression; num_classes: classification logits
    many_to_many: bool = False      # True: the head reads every time step (tagging: 품사 태깅)
    dropout: float = 0.0            # between stacked recurrent layers


class SequenceRegressor(nn.Module):
    """Many-to-one (default) or many-to-many: x (B, T, F) -> (B, out) or (B, T, out)."""

    def __init__(self, cfg: SequenceConfig = SequenceConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.rnn = recurrent_layer(cfg.cell, cfg.scratch, cfg.input_size, cfg.hidden_size,
                                   cfg.num_layers, cfg.dropout)
        sizes = (cfg.hidden_size, *cfg.head, cfg.output_size)
        layers: list[nn.Module] = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
        self.head = nn.Sequential(*layers[:-1])   # no ReLU after the last layer: raw values / logits

    def initial_state(self, batch_size: int, like: Tensor) -> Tensor | LSTMState:
        """h₀ = zeros (and c₀ = zeros for an LSTM): each window starts with a blank memory."""
        zeros = like.new_zeros(self.cfg.num_layers, batch_size, self.cfg.hidden_size)   # (L, B, H)
        return (zeros, zeros.clone()) if self.cfg.cell == "lstm" else zeros

    def forward_features(self, x: Tensor, h0: Tensor | LSTMState | None = None) -> Tensor:
        if h0 is None:   # None means zeros: the course's explicit initial hidden state h₀
            h0 = self.initial_state(x.shape[0], x)
        outputs, _ = self.rnn(x, h0)                 # (B, T, H): h_t for every step t
        return outputs

    def forward_head(self, outputs: Tensor) -> Tensor:
        if self.cfg.many_to_many:
            return self.head(outputs)                # (B, T, out): one prediction per step
        return self.head(outputs[:, -1])             # (B, out): from the last hidden state h_T

    def forward(self, x: Tensor, h0: Tensor | LSTMState | None = None) -> Tensor:   # x: (B, T, F)
        return self.forward_head(self.forward_features(x, h0))


def _sequence_model(cell: str, scratch: bool, overrides: dict[str, Any]) -> SequenceRegressor:
    if "head" in overrides:
        overrides["head"] = tuple(overrides["head"])
    return SequenceRegressor(SequenceConfig(cell=cell, scratch=scratch, **overrides))


_SEQ = dict(input_shape=(30, 1), task="regression")   # 30-day windows of 1 feature -> the next day


@register_model("rnn", num_params=6_401, **_SEQ, description="torch.nn.RNN(1->64) + 64-32-1 MLP head")
def rnn(**overrides: Any) -> SequenceRegressor:
    return _sequence_model("rnn", False, overrides)


@register_model("lstm", num_params=19_265, **_SEQ, description="torch.nn.LSTM(1->64) + 64-32-1 MLP head")
def lstm(**overrides: Any) -> SequenceRegressor:
    return _sequence_model("lstm", False, overrides)


@register_model("gru", num_params=14_977, **_SEQ, description="torch.nn.GRU(1->64) + 64-32-1 MLP head")
def gru(**overrides: Any) -> SequenceRegressor:
    return _sequence_model("gru", False, overrides)


@register_model("rnn-scratch", num_params=6_401, **_SEQ, description="from-scratch RNN (same weights as 'rnn')")
def rnn_scratch(**overrides: Any) -> SequenceRegressor:
    return _sequence_model("rnn", True, overrides)


@register_model("lstm-scratch", num_params=19_265, **_SEQ, description="from-scratch LSTM (same weights as 'lstm')")
def lstm_scratch(**overrides: Any) -> SequenceRegressor:
    return _sequence_model("lstm", True, overrides)


@register_model("gru-scratch", num_params=14_977, **_SEQ, description="from-scratch GRU (same weights as 'gru')")
def gru_scratch(**overrides: Any) -> SequenceRegressor:
    return _sequence_model("gru", True, overrides)


@dataclass(frozen=True)
class CharLSTMConfig:
    vocab_size: int = 65        # Tiny Shakespeare's distinct characters
    embedding_dim: int = 64
    hidden_size: int = 128      # char-rnn's default size
    num_layers: int = 2
    dropout: float = 0.0
    scratch: bool = False


class CharLSTM(nn.Module):
    """Character language model: token ids (B, T) -> next-character logits (B, T, V).

    Default size: embedding 65·64 = 4,160; LSTM layer 0 4·128·(64 + 128 + 2) = 99,328 and layer 1
    4·128·(128 + 128 + 2) = 132,096; output 128·65 + 65 = 8,385; total 243,969.
    """

    def __init__(self, cfg: CharLSTMConfig = CharLSTMConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(cfg.vocab_size, cfg.embedding_dim)
        self.rnn = recurrent_layer("lstm", cfg.scratch, cfg.embedding_dim, cfg.hidden_size,
                                   cfg.num_layers, cfg.dropout)
        self.fc = nn.Linear(cfg.hidden_size, cfg.vocab_size)

    def forward_with_state(self, ids: Tensor, state: LSTMState | None = None) -> tuple[Tensor, LSTMState]:
        x = self.embedding(ids)                    # (B, T) -> (B, T, E)
        outputs, state = self.rnn(x, state)        # (B, T, H); state=None means zeros
        return self.fc(outputs), state             # logits (B, T, V)

    def forward(self, ids: Tensor) -> Tensor:
        return self.forward_with_state(ids)[0]

    @torch.no_grad()
    def generate(self, prompt: Tensor, steps: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> Tensor:
        """Continue `prompt` (1-D ids) by `steps` sampled characters; returns prompt + new ids."""
        logits, state = self.forward_with_state(prompt.unsqueeze(0))   # warm the state on the prompt
        out = [prompt]
        for _ in range(steps):
            probs = torch.softmax(logits[0, -1] / temperature, dim=-1)  # (V,)
            nxt = torch.multinomial(probs, 1, generator=generator)      # (1,)
            out.append(nxt)
            logits, state = self.forward_with_state(nxt.unsqueeze(0), state)
        return torch.cat(out)


@register_model("char-lstm", input_shape=(64,), num_params=243_969, task="language-model",
                input_dtype=torch.long, description="Embedding(65, 64) -> 2-layer LSTM(128) -> Linear(65)")
def char_lstm(**overrides: Any) -> CharLSTM:
    return CharLSTM(CharLSTMConfig(**overrides))
