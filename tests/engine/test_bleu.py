"""Corpus BLEU against values worked out by hand (Papineni et al., 2002)."""

from __future__ import annotations

import math

import pytest

from layerlab.engine.bleu import brevity_penalty, corpus_bleu, modified_precision, ngrams
from layerlab.errors import LayerlabError

CAT = "the cat is on the mat".split()


def test_ngram_counts() -> None:
    assert ngrams("a b a b".split(), 2) == {("a", "b"): 2, ("b", "a"): 1}
    assert ngrams(["a"], 2) == {}


def test_a_perfect_translation_scores_one_and_a_disjoint_one_zero() -> None:
    assert corpus_bleu([CAT], [CAT]) == pytest.approx(1.0)
    assert corpus_bleu(["a dog ran away".split()], [CAT]) == 0.0
    assert corpus_bleu([[]], [CAT]) == 0.0                     # an empty translation: no n-grams at all


def test_clipping_the_papers_example() -> None:
    # "the" x7 against a reference holding "the" twice: only 2 of the 7 count (modified precision 2/7)
    assert modified_precision([["the"] * 7], [CAT], 1) == (2, 7)


def test_worked_example_bleu_1_to_4() -> None:
    candidate = "the cat sat on the mat".split()
    # unigrams: the x2, cat, on, mat match; sat does not           -> p1 = 5/6
    # bigrams: "the cat", "on the", "the mat" of 5                  -> p2 = 3/5
    # trigrams: only "on the mat" of 4                              -> p3 = 1/4
    # 4-grams: "the cat sat on", "cat sat on the", "sat on the mat" -> p4 = 0/3
    # c = r = 6, so the brevity penalty is exp(1 - 6/6) = 1
    assert [modified_precision([candidate], [CAT], n) for n in (1, 2, 3, 4)] == [(5, 6), (3, 5), (1, 4), (0, 3)]
    assert corpus_bleu([candidate], [CAT], max_n=1) == pytest.approx(5 / 6)
    assert corpus_bleu([candidate], [CAT], max_n=2) == pytest.approx(math.sqrt(5 / 6 * 3 / 5))   # 0.7071
    assert corpus_bleu([candidate], [CAT], max_n=3) == pytest.approx(0.5)                        # (1/8)^(1/3)
    assert corpus_bleu([candidate], [CAT], max_n=4) == 0.0                                       # no 4-gram matches


def test_brevity_penalty_punishes_short_translations() -> None:
    # "the cat" against the 6-word reference: p1 = 2/2 and p2 = 1/1 are perfect, but c = 2 < r = 6:
    # BP = exp(1 - 6/2) = exp(-2) = 0.1353
    assert corpus_bleu([["the", "cat"]], [CAT], max_n=2) == pytest.approx(math.exp(-2))
    assert brevity_penalty(7, 6) == 1.0 and brevity_penalty(6, 6) == 1.0 and brevity_penalty(0, 6) == 0.0
    assert brevity_penalty(3, 4) == pytest.approx(math.exp(1 - 4 / 3))


def test_corpus_bleu_sums_counts_before_dividing() -> None:
    candidates = ["the cat sat on the mat".split(), "hello there".split()]
    references = [CAT, "hello there".split()]
    # p1 = (5 + 2) / (6 + 2) = 7/8, p2 = (3 + 1) / (5 + 1) = 2/3; BLEU-2 = sqrt(7/12) = 0.7638,
    # not the mean of the sentence scores (0.7071 + 1) / 2 = 0.8536
    assert corpus_bleu(candidates, references, max_n=2) == pytest.approx(math.sqrt(7 / 12))


def test_mismatched_corpora_are_a_clear_error() -> None:
    with pytest.raises(LayerlabError, match="one reference per candidate"):
        corpus_bleu([CAT, CAT], [CAT])
    with pytest.raises(LayerlabError, match="at least 1"):
        corpus_bleu([CAT], [CAT], max_n=0)
