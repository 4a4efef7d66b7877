"""CTC by hand: collapsing paths, greedy and beam-search decoding, the columns a label needs, the
loss against torch's own, and the decoded metrics against counts made by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from layerlab.engine.ctc import (
    CharacterAccuracy, CharacterErrorRate, SequenceAccuracy, beam_decode, beam_search, check_alignable, collapse,
    greedy_decode, min_columns,
)
from layerlab.engine.losses import CTCLoss, get_loss
from layerlab.engine.metrics import Metrics
from layerlab.errors import LayerlabError


def text_probability(probs: torch.Tensor, text: list[int]) -> float:
    """P(text | columns) summed over every path, by torch's CTC (the reference for our decoders)."""
    targets = torch.tensor([text]) if text else torch.zeros(1, 0, dtype=torch.long)
    loss = F.ctc_loss(probs.log()[:, None], targets, torch.tensor([len(probs)]), torch.tensor([len(text)]), reduction="sum")
    return math.exp(-float(loss))


def test_collapse_merges_runs_then_drops_blanks():
    assert collapse([0, 2, 2, 0, 0, 6, 0, 3, 3, 0, 1, 1, 0]) == [2, 6, 3, 1]
    assert collapse([2, 0, 2]) == [2, 2]          # a blank between equal characters keeps both
    assert collapse([2, 2, 2]) == [2]
    assert collapse([0, 0]) == []


def test_greedy_reads_the_argmax_of_each_column_up_to_each_length():
    scores = torch.full((2, 4, 3), -5.0)
    for row, path in enumerate([[1, 1, 0, 2], [2, 0, 2, 1]]):
        scores[row, torch.arange(4), torch.tensor(path)] = 0.0
    assert greedy_decode(scores) == [[1, 2], [2, 2, 1]]
    assert greedy_decode(scores, torch.tensor([2, 3])) == [[1], [2, 2]]      # the padded columns are not read


def test_beam_search_beats_greedy_on_a_hand_made_table():
    # two columns over (blank, a): every column's best class is blank, so greedy reads "" with
    # P = 0.6·0.6 = 0.36; but "a" is spelled by three paths (a-, -a, aa): 0.24 + 0.24 + 0.16 = 0.64
    probs = torch.tensor([[0.6, 0.4], [0.6, 0.4]])
    assert greedy_decode(probs.log()[None]) == [[]]
    text, log_p = beam_search(probs.log(), beam_width=2)
    assert text == [1] and math.exp(log_p) == pytest.approx(0.64)
    assert text_probability(probs, [1]) == pytest.approx(0.64) and text_probability(probs, []) == pytest.approx(0.36)
    # width 1 keeps only "" after the first column (0.6 > 0.4), so it reads what greedy reads
    assert beam_search(probs.log(), beam_width=1)[0] == []


def test_beam_width_one_equals_greedy_when_each_column_has_a_clear_best_class():
    # columns as a trained net gives them: one class holds 0.9, the other 0.1 is spread at random;
    # random paths over 3 classes + blank repeat characters often, with and without blanks between
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        best = torch.randint(0, 4, (3, 12), generator=generator)                       # (B, T) best classes
        rest = 0.1 * torch.softmax(torch.randn(3, 12, 4, generator=generator), dim=-1)
        probs = torch.where(F.one_hot(best, 4).bool(), torch.tensor(0.9), rest)
        probs = probs / probs.sum(-1, keepdim=True)
        assert beam_decode(probs.log(), beam_width=1) == greedy_decode(probs.log())


def test_beam_width_one_keeps_the_likeliest_prefix_not_the_best_path():
    # greedy's best path is "1 2" (0.6·0.4 = 0.24). Width 1 keeps "1" after column 1; in column 2 it
    # stays "1" (blank or a repeated 1: 0.6·0.6 = 0.36, the paths it kept) rather than become "12"
    # (0.24). Summed over every path, "1" is indeed likelier (0.42 vs 0.24): a known difference, not a bug
    probs = torch.tensor([[0.2, 0.6, 0.2], [0.3, 0.3, 0.4]])
    assert greedy_decode(probs.log()[None]) == [[1, 2]]
    text, log_p = beam_search(probs.log(), beam_width=1)
    assert text == [1] and math.exp(log_p) == pytest.approx(0.36)
    assert text_probability(probs, [1]) == pytest.approx(0.42) and text_probability(probs, [1, 2]) == pytest.approx(0.24)


def test_beam_search_probability_is_the_sum_over_paths_and_width_must_be_positive():
    generator = torch.Generator().manual_seed(1)
    probs = torch.softmax(torch.randn(6, 4, generator=generator), dim=-1)
    text, log_p = beam_search(probs.log(), beam_width=64)          # wide enough to be exact on 6 columns
    assert math.exp(log_p) == pytest.approx(text_probability(probs, text), rel=1e-5)
    with pytest.raises(LayerlabError, match="beam width must be at least 1"):
        beam_search(probs.log(), beam_width=0)


def test_min_columns_counts_a_blank_between_equal_neighbours():
    assert min_columns([1, 2, 3, 4, 5]) == 5
    assert min_columns([5, 5, 6, 6, 7]) == 7        # "5bb66"-like: two doubled pairs need two blanks
    assert min_columns([1, 1, 1]) == 5
    assert min_columns([]) == 0


def test_lines_read_joined_in_pairs_need_one_column_to_spare():
    # "ab" fits 2 columns alone, but joined to "ba" the pair "abba" needs 5 (a blank between the b's) of 2 + 2
    labels = torch.tensor([[1, 2], [2, 1]])
    check_alignable(labels, torch.tensor([2, 2]), torch.tensor([2, 2]), ["ab.png", "ba.png"], "-ab")
    with pytest.raises(LayerlabError, match=r"^ab.png: the label 'ab' needs at least 2 time steps \(2 characters \+ 0 "
                                            r"blanks between repeated ones\) and one to spare to be read joined to another "
                                            r"line but the model gives its image only 2 columns, .*, or --join 0$"):
        check_alignable(labels, torch.tensor([2, 2]), torch.tensor([2, 2]), ["ab.png", "ba.png"], "-ab", joined=True)
    check_alignable(labels, torch.tensor([2, 2]), torch.tensor([3, 3]), ["ab.png", "ba.png"], "-ab", joined=True)
    log_probs = torch.full((4, 1, 3), math.log(1 / 3))             # torch agrees: "abba" in 4 columns is impossible
    assert torch.isinf(F.ctc_loss(log_probs, torch.tensor([[1, 2, 2, 1]]), torch.tensor([4]), torch.tensor([4]),
                                  reduction="sum"))


def test_check_alignable_names_the_file_before_any_loss_is_inf():
    labels = torch.tensor([[1, 2, 3], [4, 4, 4]])
    # 5 columns: "abc" needs 3, "ddd" needs 5 (two blanks): both fit
    check_alignable(labels, torch.tensor([3, 3]), torch.tensor([5, 5]), ["ok.png", "ddd.png"], "-abcd")
    with pytest.raises(LayerlabError) as error:
        check_alignable(labels, torch.tensor([3, 3]), torch.tensor([5, 4]), ["ok.png", "ddd.png"], "-abcd")
    message = str(error.value)
    assert "\n" not in message and message.startswith("ddd.png: the label 'ddd' needs at least 5 time steps")
    assert "only 4 columns" in message
    # torch agrees: 4 columns for "ddd" give an infinite loss
    log_probs = torch.full((4, 1, 5), math.log(0.2))
    assert math.isinf(float(F.ctc_loss(log_probs, labels[1:], torch.tensor([4]), torch.tensor([3]))))


def test_ctc_loss_is_torchs_per_sequence_with_blank_zero():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 10, 6, generator=generator)                # (B, T, K)
    labels = torch.tensor([[1, 2, 2, 0], [3, 0, 0, 0], [5, 4, 3, 2]])
    targets = {"labels": labels, "label_lengths": torch.tensor([3, 1, 4]), "input_lengths": torch.tensor([10, 7, 9])}
    ours = get_loss("ctc")(logits, targets)
    assert isinstance(get_loss("ctc"), CTCLoss) and get_loss("ctc").blank == 0
    theirs = F.ctc_loss(logits.log_softmax(-1).transpose(0, 1), labels, targets["input_lengths"], targets["label_lengths"],
                        blank=0, reduction="sum") / 3
    assert float(ours) == pytest.approx(float(theirs), rel=1e-6)
    # uniform columns: every path has probability (1/K)^T, so the loss of "3" over 7 columns is
    # -log(number of paths spelling it · 6^-7); paths spelling one character c in T columns: T(T+1)/2
    uniform = get_loss("ctc")(torch.zeros(1, 7, 6), {"labels": torch.tensor([[3]]), "label_lengths": torch.tensor([1]),
                                                      "input_lengths": torch.tensor([7])})
    assert float(uniform) == pytest.approx(-math.log(28 * 6.0**-7), rel=1e-5)



def test_decoded_metrics_against_a_hand_count():
    # references "1234", "55", "678"; paths decode to "1234" (right), "5" (a deletion), "687" (2 substitutions)
    paths = torch.tensor([[1, 0, 2, 3, 3, 4], [5, 5, 0, 0, 0, 0], [6, 8, 8, 0, 7, 7]])
    labels = torch.tensor([[1, 2, 3, 4], [5, 5, 0, 0], [6, 7, 8, 0]])
    values = {"best_path": paths, "input_lengths": torch.tensor([6, 6, 6]), "labels": labels,
              "label_lengths": torch.tensor([4, 2, 3])}
    metrics = Metrics({"sequence_accuracy": SequenceAccuracy(), "character_accuracy": CharacterAccuracy(),
                       "cer": CharacterErrorRate()})
    metrics.update(values)
    result = metrics.compute()
    assert result["sequence_accuracy"] == pytest.approx(1 / 3)
    assert result["character_accuracy"] == pytest.approx((4 + 1 + 1) / 9)   # 6 at their position: 1234, 5, 6
    assert result["cer"] == pytest.approx((0 + 1 + 2) / 9)                  # edit distances 0, 1, 2 over 9 characters
    assert not metrics.higher_is_better("cer") and metrics.higher_is_better("sequence_accuracy")
    metrics.update({**values, "input_lengths": torch.tensor([6, 1, 6])})   # a row cut to 1 column reads "5" anyway
    assert metrics.compute()["sequence_accuracy"] == pytest.approx(2 / 6)
