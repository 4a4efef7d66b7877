"""Sequence-to-sequence translation with additive attention (Bahdanau, Cho & Bengio, 2015).

Course unit: Attention Mechanism (after RNN/LSTM). What to notice:

- Without attention (Cho et al., 2014; Sutskever et al., 2014) the encoder squeezes the whole
  source sentence into one vector, its final hidden state, and the decoder sees only that.
- With attention the decoder looks back at *every* encoder state h_j at every step t:
      score_tj = v · tanh(W_q·s_{t-1} + W_k·h_j)         (additive attention)
      α_t      = softmax_j(score_tj)                       (a row of weights that sums to 1)
      c_t      = Σ_j α_tj · h_j                            (the context vector)
  Padding positions get score -inf, so their weight is exactly 0.
- Training uses teacher forcing: the decoder reads the true previous token, so one forward pass
  scores the whole target. `greedy_decode` feeds back its own predictions instead.

Token id conventions follow layerlab.data.text: <pad>=0, <bos>=1, <eos>=2, <unk>=3; sequences are
right-padded. The default size fits the "kor-eng" vocabularies (Korean -> English, min_freq=1):
source embedding 5,363·64 = 343,232; encoder GRU 3·128·(64 + 128 + 2) = 74,496; target embedding
2,485·64 = 159,040; attention W_q, W_k, v 2·128·128 + 128 = 32,896; decoder GRUCell
3·128·(64 + 128 + 128 + 2) = 123,648; output 256·2,485 + 2,485 = 638,645; total 1,371,957
(1,339,061 without attention). Most parameters sit in the vocabularies, not in the recurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from layerlab.errors import LayerlabError
from layerlab.models.registry import register_model


@dataclass(frozen=True)
class Seq2SeqConfig:
    src_vocab_size: int = 5_363     # "kor-eng" Korean vocabulary (training split, min_freq=1)
    tgt_vocab_size: int = 2_485     # "kor-eng" English vocabulary
    embedding_dim: int = 64
    hidden_size: int = 128
    attention: bool = True          # False: the decoder sees only the encoder's final state
    dropout: float = 0.0            # on embeddings and before the output layer; a few thousand pairs overfit fast
    pad_id: int = 0


class AdditiveAttention(nn.Module):
    """Bahdanau attention: score(s, h_j) = v · tanh(W_q·s + W_k·h_j)."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.query = nn.Linear(hidden_size, hidden_size, bias=False)   # W_q
        self.key = nn.Linear(hidden_size, hidden_size, bias=False)     # W_k
        self.v = nn.Linear(hidden_size, 1, bias=False)                 # v

    def forward(self, s: Tensor, keys: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """s: decoder state (B, H); keys = W_k·h (B, S, H), computed once per sentence; memory:
        encoder states h (B, S, H); mask: True on real tokens (B, S). Returns context and weights."""
        energy = torch.tanh(self.query(s).unsqueeze(1) + keys)      # (B, 1, H) + (B, S, H) -> (B, S, H)
        scores = self.v(energy).squeeze(-1)                         # (B, S)
        scores = scores.masked_fill(~mask, float("-inf"))           # padding can never be attended
        weights = torch.softmax(scores, dim=-1)                     # (B, S), each row sums to 1
        context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)   # (B, 1, S) @ (B, S, H) -> (B, H)
        return context, weights


class Encoded(NamedTuple):
    """What the decoder needs from the encoder, computed once per batch of source sentences."""

    memory: Tensor     # (B, S, H): h_j for every source position (zeros at padding)
    keys: Tensor       # (B, S, H): W_k·h_j (empty when attention is off)
    mask: Tensor       # (B, S): True on real tokens
    final: Tensor      # (B, H): the last real token's state, the whole sentence in one vector
    last: Tensor       # (B,): index of the last real token


class Seq2Seq(nn.Module):
    """GRU encoder -> GRU decoder, with or without additive attention."""

    def __init__(self, cfg: Seq2SeqConfig = Seq2SeqConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        E, H = cfg.embedding_dim, cfg.hidden_size
        self.src_embedding = nn.Embedding(cfg.src_vocab_size, E, padding_idx=cfg.pad_id)
        self.encoder = nn.GRU(E, H, batch_first=True)
        self.tgt_embedding = nn.Embedding(cfg.tgt_vocab_size, E, padding_idx=cfg.pad_id)
        self.attention = AdditiveAttention(H) if cfg.attention else None
        self.decoder = nn.GRUCell(E + H, H)          # input: [previous token's embedding; context]
        self.out = nn.Linear(2 * H, cfg.tgt_vocab_size)   # from [s_t; c_t] to next-token logits
        self.dropout = nn.Dropout(cfg.dropout)       # active in training only (model.train())

    def encode(self, src: Tensor) -> Encoded:   # src: (B, S) right-padded token ids
        mask = src != self.cfg.pad_id                                # (B, S)
        lengths = mask.sum(dim=1)                                    # (B,)
        if bool((lengths == 0).any()):
            raise LayerlabError("every source sentence needs at least one token that is not <pad> (id 0)")
        x = self.dropout(self.src_embedding(src))                    # (B, S, E)
        # packing makes the GRU stop at each sentence's last real token, so `final` is not
        # the state after reading a run of <pad> tokens
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, h_n = self.encoder(packed)
        memory, _ = pad_packed_sequence(outputs, batch_first=True, total_length=src.shape[1])   # (B, S, H)
        keys = self.attention.key(memory) if self.attention is not None else memory[:, :0]
        return Encoded(memory, keys, mask, h_n[-1], lengths - 1)

    def decode_step(self, y_prev: Tensor, s: Tensor, enc: Encoded) -> tuple[Tensor, Tensor, Tensor]:
        """One decoder step: previous token (B,) and state s_{t-1} (B, H) -> logits (B, V), s_t, α_t (B, S)."""
        emb = self.dropout(self.tgt_embedding(y_prev))               # (B, E)
        if self.attention is not None:
            context, weights = self.attention(s, enc.keys, enc.memory, enc.mask)   # (B, H), (B, S)
        else:
            context = enc.final                                      # the same summary at every step
            weights = nn.functional.one_hot(enc.last, enc.mask.shape[1]).to(emb.dtype)   # all on h_S
        s = self.decoder(torch.cat([emb, context], dim=-1), s)      # (B, E + H) -> (B, H)
        logits = self.out(self.dropout(torch.cat([s, context], dim=-1)))   # (B, 2H) -> (B, V)
        return logits, s, weights

    def forward(self, src: Tensor, tgt_in: Tensor) -> tuple[Tensor, Tensor]:
        """Teacher forcing: src (B, S), tgt_in = <bos> + target[:-1] (B, T).

        Returns logits (B, T, V) for target[1:] (the next tokens) and attention weights (B, T, S).
        """
        enc = self.encode(src)
        s = enc.final                                                # s_0: the decoder starts from h_S
        logits, weights = [], []
        for t in range(tgt_in.shape[1]):                             # the true previous token each step
            step_logits, s, alpha = self.decode_step(tgt_in[:, t], s, enc)
            logits.append(step_logits)
            weights.append(alpha)
        return torch.stack(logits, dim=1), torch.stack(weights, dim=1)   # (B, T, V), (B, T, S)

    @torch.no_grad()
    def greedy_decode(self, src: Tensor, max_len: int, bos: int = 1, eos: int = 2) -> tuple[Tensor, Tensor]:
        """Translate by feeding back the most likely token; stops when every sentence has said <eos>.

        Returns tokens (B, L <= max_len) with <pad> after each <eos>, and attention (B, L, S).
        """
        enc = self.encode(src)
        s = enc.final
        y = torch.full((src.shape[0],), bos, dtype=torch.long, device=src.device)   # (B,)
        finished = torch.zeros_like(y, dtype=torch.bool)
        tokens, weights = [], []
        for _ in range(max_len):
            logits, s, alpha = self.decode_step(y, s, enc)
            y = logits.argmax(dim=-1)                                # (B,)
            y = y.masked_fill(finished, self.cfg.pad_id)             # nothing after <eos>
            tokens.append(y)
            weights.append(alpha)
            finished |= y == eos
            if bool(finished.all()):
                break
        return torch.stack(tokens, dim=1), torch.stack(weights, dim=1)   # (B, L), (B, L, S)


def _seq2seq(attention: bool, overrides: dict[str, Any]) -> Seq2Seq:
    return Seq2Seq(Seq2SeqConfig(attention=attention, **overrides))


@register_model("seq2seq-attention", input_shape=(12,), num_params=1_371_957, task="seq2seq",
                input_dtype=torch.long,
                description="GRU encoder-decoder with Bahdanau attention; forward(src, tgt_in) -> (logits, attention)")
def seq2seq_attention(**overrides: Any) -> Seq2Seq:
    return _seq2seq(True, overrides)


@register_model("seq2seq", input_shape=(12,), num_params=1_339_061, task="seq2seq", input_dtype=torch.long,
                description="the same encoder-decoder without attention: only the final encoder state")
def seq2seq(**overrides: Any) -> Seq2Seq:
    return _seq2seq(False, overrides)
