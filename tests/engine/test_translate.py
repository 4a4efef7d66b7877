"""Seq2seq in the loop: teacher-forcing batches, a <pad>-blind loss, token-mean metrics, greedy translation."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from layerlab.data import TensorData
from layerlab.engine import evaluate, fit
from layerlab.engine.losses import SequenceCrossEntropy, loss_metrics
from layerlab.engine.metrics import TokenAccuracy
from layerlab.engine.translate import beam_translate, greedy_translate
from layerlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from layerlab.tasks import TeacherForcing

# source ids + <eos>=2, right-padded; targets <bos>=1 + ids + <eos>=2, right-padded (the kor-eng layout)
SOURCES = torch.tensor([[5, 6, 2, 0, 0, 0], [7, 2, 0, 0, 0, 0], [4, 8, 9, 2, 0, 0]])
TARGETS = torch.tensor([[1, 5, 6, 2, 0, 0, 0], [1, 7, 2, 0, 0, 0, 0], [1, 9, 8, 4, 4, 2, 0]])


def _model() -> Seq2Seq:
    torch.manual_seed(0)
    return Seq2Seq(Seq2SeqConfig(src_vocab_size=10, tgt_vocab_size=10, embedding_dim=8, hidden_size=16))


def test_teacher_forcing_shifts_by_one_and_cuts_padding_columns() -> None:
    src, tgt_in, tgt_out = TeacherForcing(_model(), pad_id=0)._shift((SOURCES, TARGETS))
    assert src.shape == (3, 4)                                   # the longest source: 3 ids + <eos>
    assert tgt_in.tolist()[2] == [1, 9, 8, 4, 4] and tgt_out.tolist()[2] == [9, 8, 4, 4, 2]
    assert tgt_in.tolist()[1] == [1, 7, 2, 0, 0] and tgt_out.tolist()[1] == [7, 2, 0, 0, 0]


def test_sequence_cross_entropy_ignores_padding() -> None:
    torch.manual_seed(1)
    logits = torch.randn(2, 3, 5)
    targets = torch.tensor([[4, 2, 0], [3, 0, 0]])
    by_hand = torch.stack([F.cross_entropy(logits[0, 0:1], targets[0, 0:1]), F.cross_entropy(logits[0, 1:2], targets[0, 1:2]),
                           F.cross_entropy(logits[1, 0:1], targets[1, 0:1])]).mean()   # the 3 real tokens
    torch.testing.assert_close(SequenceCrossEntropy()(logits, targets), by_hand)
    accuracy = loss_metrics(SequenceCrossEntropy(pad_id=0))["accuracy"]
    assert isinstance(accuracy, TokenAccuracy) and accuracy.ignore_index == 0


def test_evaluate_reports_the_mean_over_real_tokens_of_all_batches() -> None:
    model = _model()
    data = TensorData(SOURCES, TARGETS)
    metrics = evaluate(TeacherForcing(model, pad_id=0), data, batch_size=2)
    src, tgt_in, tgt_out = TeacherForcing(model, pad_id=0)._shift((SOURCES, TARGETS))
    with torch.no_grad():
        logits, _ = model(src, tgt_in)
    real = tgt_out != 0                                          # 3 + 2 + 5 = 10 tokens, batches of 5 and 5
    nll = F.cross_entropy(logits[real], tgt_out[real])
    accuracy = (logits.argmax(-1) == tgt_out)[real].float().mean()
    assert abs(metrics["loss"] - nll.item()) < 1e-5
    assert abs(metrics["accuracy"] - accuracy.item()) < 1e-6


def test_fit_trains_a_seq2seq_model_through_the_ordinary_loop() -> None:
    model = _model()
    data = TensorData(SOURCES, TARGETS)
    history = fit(TeacherForcing(model, pad_id=0, optimizer="adam", lr=0.05), data, val=data, epochs=30, batch_size=3,
                  progress=False, device="cpu")
    assert history.epochs[-1]["val_loss"] < 0.2 * history.epochs[0]["val_loss"]
    assert history.epochs[-1]["val_accuracy"] == 1.0            # three sentences, memorised
    translations = greedy_translate(model, SOURCES, max_len=8)
    assert [ids for ids, _ in translations] == [[5, 6], [7], [9, 8, 4, 4]]
    for (ids, weights), length in zip(translations, (3, 2, 4)):
        assert weights.shape == (len(ids) + 1, length)           # one row per output word and <eos>
        torch.testing.assert_close(weights.sum(dim=1), torch.ones(len(ids) + 1))


def test_beam_search_of_width_one_is_greedy_decoding() -> None:
    model = _model()
    greedy = greedy_translate(model, SOURCES, max_len=6)
    beam = beam_translate(model, SOURCES, beam_size=1, max_len=6)
    for (g_ids, g_weights), (b_ids, b_weights) in zip(greedy, beam):
        assert g_ids == b_ids
        torch.testing.assert_close(g_weights, b_weights)


def _log_probability(model: Seq2Seq, src: torch.Tensor, ids: list[int]) -> float:
    tgt_in = torch.tensor([[1] + ids[:-1]])
    logits, _ = model(src, tgt_in)
    return torch.log_softmax(logits[0], -1)[torch.arange(len(ids)), ids].sum().item()


def test_a_wide_enough_beam_finds_the_most_probable_translation() -> None:
    """Vocabulary of 5 (<pad>, <bos>, <eos> and two words), at most 3 steps: a beam of 5² = 25 keeps
    every partial translation, so it must find the best of all sequences, enumerated here by brute force."""
    torch.manual_seed(3)
    model = Seq2Seq(Seq2SeqConfig(src_vocab_size=10, tgt_vocab_size=5, embedding_dim=8, hidden_size=16)).eval()
    src = torch.tensor([[4, 8, 9, 2]])
    with torch.no_grad():
        every = [list(seq) for n in (1, 2, 3) for seq in itertools.product(range(5), repeat=n)
                 if (seq[-1] == 2 and 2 not in seq[:-1]) or (n == 3 and 2 not in seq)]   # ended by <eos>, or cut at 3
        best = max(every, key=lambda ids: _log_probability(model, src, ids))
        ids, weights = beam_translate(model, src, beam_size=25, max_len=3)[0]
    assert ids == (best[:-1] if best[-1] == 2 else best)
    assert weights.shape == (len(best), 4)
