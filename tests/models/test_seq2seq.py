"""Seq2seq with additive attention: shapes, masking, and learning to reverse a sequence."""

from __future__ import annotations

from typing import Iterator

import pytest
import torch
import torch.nn.functional as F

from layerlab.errors import LayerlabError
from layerlab.models import get_model
from layerlab.models.registry import MODELS
from layerlab.models.seq2seq import AdditiveAttention, Seq2Seq, Seq2SeqConfig

PAD, BOS, EOS = 0, 1, 2
VOCAB = 13   # 3 special ids + 10 symbols


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny matrices: a second intra-op thread only adds synchronisation (and on a busy shared CPU
    it made this training 15x slower), so the training test runs on one thread and restores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _small(attention: bool = True) -> Seq2Seq:
    cfg = Seq2SeqConfig(src_vocab_size=VOCAB, tgt_vocab_size=VOCAB, embedding_dim=16, hidden_size=32,
                        attention=attention)
    return Seq2Seq(cfg)


def _padded_batch() -> torch.Tensor:
    return torch.tensor([[5, 6, 7, 8, 2], [4, 9, 2, 0, 0], [3, 2, 0, 0, 0]])   # right-padded with 0


def test_teacher_forced_shapes_and_attention_rows() -> None:
    torch.manual_seed(0)
    model = _small()
    src = _padded_batch()
    tgt_in = torch.tensor([[1, 4, 5, 6], [1, 7, 2, 0], [1, 3, 3, 2]])
    logits, attention = model(src, tgt_in)
    assert logits.shape == (3, 4, VOCAB)
    assert attention.shape == (3, 4, 5)
    torch.testing.assert_close(attention.sum(-1), torch.ones(3, 4))            # each row is a distribution
    pad_mask = (src == PAD).unsqueeze(1).expand_as(attention)
    assert torch.all(attention[pad_mask] == 0)                                  # exactly zero, not just small
    assert torch.all(attention[~pad_mask] > 0)


def test_padding_does_not_change_a_sentence_translation() -> None:
    """The same sentence with and without trailing <pad> gets identical logits (packing + masking)."""
    torch.manual_seed(1)
    model = _small().double()
    short = torch.tensor([[4, 9, 2]])
    padded = torch.tensor([[4, 9, 2, 0, 0, 0]])
    tgt_in = torch.tensor([[1, 5, 6]])
    torch.testing.assert_close(model(short, tgt_in)[0], model(padded, tgt_in)[0], atol=1e-12, rtol=0)


def test_additive_attention_matches_the_formula_by_hand() -> None:
    torch.manual_seed(2)
    attn = AdditiveAttention(4).double()
    s = torch.randn(1, 4, dtype=torch.float64)
    memory = torch.randn(1, 3, 4, dtype=torch.float64)
    mask = torch.tensor([[True, True, False]])
    context, weights = attn(s, attn.key(memory), memory, mask)
    W_q, W_k, v = attn.query.weight, attn.key.weight, attn.v.weight[0]
    scores = torch.stack([v @ torch.tanh(W_q @ s[0] + W_k @ memory[0, j]) for j in range(2)])
    expected = torch.softmax(scores, 0)
    torch.testing.assert_close(weights[0, :2], expected)
    torch.testing.assert_close(context[0], expected[0] * memory[0, 0] + expected[1] * memory[0, 1])


def test_without_attention_all_weight_is_on_the_last_real_token() -> None:
    model = _small(attention=False)
    _, attention = model(_padded_batch(), torch.tensor([[1, 4], [1, 4], [1, 4]]))
    assert attention.argmax(-1)[:, 0].tolist() == [4, 2, 1]
    torch.testing.assert_close(attention.sum(-1), torch.ones(3, 2))


def test_an_all_padding_source_is_a_clear_error() -> None:
    with pytest.raises(LayerlabError, match="at least one token"):
        _small()(torch.tensor([[3, 2], [0, 0]]), torch.tensor([[1], [1]]))


def _reverse_batch(g: torch.Generator, batch_size: int = 64, length: int = 5) -> tuple[torch.Tensor, ...]:
    src = torch.randint(3, VOCAB, (batch_size, length), generator=g)
    reversed_ = src.flip(1)
    tgt_in = torch.cat([torch.full((batch_size, 1), BOS), reversed_], dim=1)    # <bos> y1 .. y5
    tgt_out = torch.cat([reversed_, torch.full((batch_size, 1), EOS)], dim=1)   # y1 .. y5 <eos>
    return src, tgt_in, tgt_out


def _train_reverse(attention: bool, steps: int) -> float:
    """Teacher-forced Adam on fresh random batches; returns greedy exact-sequence accuracy."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = _small(attention)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        src, tgt_in, tgt_out = _reverse_batch(g)
        logits, _ = model(src, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), tgt_out.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    src, _, tgt_out = _reverse_batch(torch.Generator().manual_seed(123), batch_size=256)
    tokens, attn = model.greedy_decode(src, max_len=6, bos=BOS, eos=EOS)
    assert tokens.shape == (256, 6) and attn.shape == (256, 6, 5)
    return (tokens == tgt_out).all(dim=1).float().mean().item()


def test_attention_learns_to_reverse_faster_than_a_single_context_vector(one_thread: None) -> None:
    # measured (3 seeds, 150 steps): attention 0.996-1.0 exact sequences, no attention 0.55-0.59
    with_attention = _train_reverse(True, steps=150)
    without = _train_reverse(False, steps=150)
    assert with_attention >= 0.95
    assert without <= with_attention - 0.2


def test_greedy_decode_pads_after_eos() -> None:
    model = _small()
    with torch.no_grad():
        model.out.bias.zero_()
        model.out.bias[EOS] = 100.0             # the model always says <eos> first
    tokens, attention = model.greedy_decode(_padded_batch(), max_len=7)
    assert tokens.tolist() == [[EOS], [EOS], [EOS]]   # stops as soon as every sentence has ended
    assert attention.shape == (3, 1, 5)


@pytest.mark.parametrize("name", ["seq2seq-attention", "seq2seq"])
def test_registered_seq2seq_models_have_documented_size(name: str) -> None:
    entry = MODELS.get(name)
    model = get_model(name)
    assert sum(p.numel() for p in model.parameters()) == entry.meta["num_params"]
    src = torch.randint(3, 50, (2, *entry.meta["input_shape"]))
    logits, _ = model(src, torch.full((2, 3), BOS))
    logits.sum().backward()
    assert logits.shape == (2, 3, 2_485)


def test_dropout_acts_in_training_only() -> None:
    torch.manual_seed(4)
    plain = _small()
    dropped = Seq2Seq(Seq2SeqConfig(**{**plain.cfg.__dict__, "dropout": 0.5}))
    dropped.load_state_dict(plain.state_dict())                 # dropout adds no parameters
    src, tgt_in = _padded_batch(), torch.tensor([[1, 4, 5], [1, 7, 2], [1, 3, 3]])
    torch.testing.assert_close(dropped.eval()(src, tgt_in)[0], plain.eval()(src, tgt_in)[0])
    assert not torch.allclose(dropped.train()(src, tgt_in)[0], plain(src, tgt_in)[0])
