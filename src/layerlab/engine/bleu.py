"""Corpus BLEU (Papineni et al., 2002): how many of a translation's n-grams the reference also has.

    p_n  = Σ_sentences clipped matches of n-grams / Σ_sentences n-grams in the candidate
           ("clipped": an n-gram counts at most as often as it occurs in the reference, so
           "the the the" against "the cat" earns one match, not three)
    BP   = 1 if c > r else exp(1 - r / c)      (brevity penalty; c, r: total candidate and reference length)
    BLEU = BP · exp(Σ_n w_n · log p_n)          (w_n = 1/N: a geometric mean of p_1 .. p_N)

BLEU-4 is the usual score. Short sentences have few 4-grams, so one missing 4-gram match makes
BLEU-4 zero while BLEU-1 (words) and BLEU-2 (word pairs) still say how close a translation is.
Sums run over the whole corpus before dividing (corpus BLEU, as in the paper), not per sentence.
One reference per sentence; tokens are compared exactly as given (tokenize first).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from layerlab.errors import LayerlabError


def ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    """How often each run of n consecutive tokens occurs: "a b a b", n=2 -> {(a, b): 2, (b, a): 1}."""
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def modified_precision(candidates: Sequence[Sequence[str]], references: Sequence[Sequence[str]],
                       n: int) -> tuple[int, int]:
    """(clipped n-gram matches, candidate n-grams), each summed over the corpus."""
    matches = total = 0
    for candidate, reference in zip(candidates, references):
        counts, ref_counts = ngrams(candidate, n), ngrams(reference, n)
        matches += sum(min(count, ref_counts[gram]) for gram, count in counts.items())
        total += sum(counts.values())
    return matches, total


def brevity_penalty(candidate_length: int, reference_length: int) -> float:
    """1 for a corpus of translations longer than its references; exp(1 - r/c) for shorter ones."""
    if candidate_length == 0:
        return 0.0
    return 1.0 if candidate_length > reference_length else math.exp(1 - reference_length / candidate_length)


def corpus_bleu(candidates: Sequence[Sequence[str]], references: Sequence[Sequence[str]], max_n: int = 4) -> float:
    """BLEU-max_n in [0, 1] of tokenized candidate translations against one reference each."""
    if len(candidates) != len(references):
        raise LayerlabError(f"BLEU needs one reference per candidate: got {len(candidates)} candidates "
                            f"and {len(references)} references")
    if max_n < 1:
        raise LayerlabError(f"BLEU's n-gram order must be at least 1, got {max_n}")
    log_precision = 0.0
    for n in range(1, max_n + 1):
        matches, total = modified_precision(candidates, references, n)
        if matches == 0:                       # log 0: one order without any match makes BLEU 0
            return 0.0
        log_precision += math.log(matches / total) / max_n
    c, r = sum(map(len, candidates)), sum(map(len, references))
    return brevity_penalty(c, r) * math.exp(log_precision)
