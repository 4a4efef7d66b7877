"""CTC, the connectionist temporal classification of Graves et al. (2006): decoding and scoring.

A recogniser such as CRNN scores every column (time step) over the vocabulary plus a "blank"
(class 0). A path gives each column one class; the text it spells is the path with repeats
merged and blanks dropped:

    path   - 2 2 - - 6 - m m - d d - - -      ("-" is the blank)
    text   2 6 m d                             (merge 2 2 → 2, drop every -)

Two equal neighbours need a blank between them ("2 - 2" spells "22", "2 2" only "2"), so a text
of n characters with r equal neighbours needs at least n + r columns (`min_columns`); with fewer,
no path spells it, its probability is 0 and the CTC loss is infinite. `check_alignable` says so
in one line before any training starts.

Decoding, written out by hand:
- greedy (best path): the likeliest class of every column, then merge and drop;
- beam search over *prefixes* (texts so far): a prefix's probability sums every path that spells
  it, split into paths ending in a blank and paths ending in its last character, and only the
  `beam_width` likeliest prefixes are extended at each column. It finds texts that greedy misses
  when probability is spread over many paths (tests/engine/test_ctc.py has such a table). With
  width 1 it keeps one prefix per column, which is the greedy text whenever each column's best
  class is clear; with probability split nearly evenly the two can differ (a test shows one).

The metrics hold each batch's best paths and decode them when the pass ends: sequence accuracy
(the whole text right), character accuracy (characters right at their position) and the
character error rate (edit distance / reference characters).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from layerlab.engine.metrics import Metric, edit_distance
from layerlab.errors import LayerlabError

BLANK = 0


def collapse(path: Sequence[int], blank: int = BLANK) -> list[int]:
    """The text a path spells: merge runs of one class, then drop the blanks."""
    text, previous = [], None
    for symbol in path:
        if symbol != previous and symbol != blank:
            text.append(symbol)
        previous = symbol
    return text


def greedy_decode(scores: Tensor, lengths: Tensor | None = None, blank: int = BLANK) -> list[list[int]]:
    """Best-path decoding of scores (B, T, K) (logits or log-probabilities): argmax per column, then
    `collapse`; `lengths` (B,) columns of each row are read (None: all T)."""
    best = scores.argmax(dim=-1).cpu()                        # (B, T)
    steps = [best.shape[1]] * len(best) if lengths is None else lengths.cpu().tolist()
    return [collapse(row[:n].tolist(), blank) for row, n in zip(best, steps)]


def _logadd(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) without overflow; -inf stands for probability 0."""
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    high, low = max(a, b), min(a, b)
    return high + math.log1p(math.exp(low - high))


def beam_search(log_probs: Tensor, beam_width: int = 10, blank: int = BLANK) -> tuple[list[int], float]:
    """The likeliest text found by CTC prefix beam search over log-probabilities (T, K), and its log-probability.

    Each prefix keeps two numbers: log P(paths so far spell it and end in a blank) and
    log P(... end in its last character). At every column a prefix either stays (a blank, or its
    last character repeated, which merges) or grows by one character; a repeated character grows
    it only after a blank.
    """
    if beam_width < 1:
        raise LayerlabError(f"beam width must be at least 1, got {beam_width}")
    table = log_probs.detach().float().cpu().tolist()
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}   # prefix -> (ends blank, ends char)
    for column in table:
        grown: dict[tuple[int, ...], list[float]] = {}

        def add(prefix: tuple[int, ...], ends_blank: float, ends_char: float) -> None:
            old = grown.setdefault(prefix, [-math.inf, -math.inf])
            old[0], old[1] = _logadd(old[0], ends_blank), _logadd(old[1], ends_char)

        for prefix, (p_blank, p_char) in beams.items():
            total = _logadd(p_blank, p_char)
            add(prefix, total + column[blank], -math.inf)               # a blank: the text stays
            for symbol, p in enumerate(column):
                if symbol == blank:
                    continue
                if prefix and symbol == prefix[-1]:
                    add(prefix, -math.inf, p_char + p)                  # "a" + "a" merges: the text stays
                    add(prefix + (symbol,), -math.inf, p_blank + p)     # "a -" + "a" is a second "a"
                else:
                    add(prefix + (symbol,), -math.inf, total + p)
        ranked = sorted(grown.items(), key=lambda item: -_logadd(*item[1]))
        beams = {prefix: (p[0], p[1]) for prefix, p in ranked[:beam_width]}
    best, (p_blank, p_char) = max(beams.items(), key=lambda item: _logadd(*item[1]))
    return list(best), _logadd(p_blank, p_char)


def beam_decode(scores: Tensor, lengths: Tensor | None = None, beam_width: int = 10, blank: int = BLANK) -> list[list[int]]:
    """`beam_search` on every row of scores (B, T, K) (logits are turned into log-probabilities)."""
    log_probs = scores.float().log_softmax(dim=-1)
    steps = [scores.shape[1]] * len(scores) if lengths is None else lengths.cpu().tolist()
    return [beam_search(row[:n], beam_width, blank)[0] for row, n in zip(log_probs, steps)]


def min_columns(label: Sequence[int]) -> int:
    """The fewest columns CTC needs for `label`: one per character, plus a blank between equal neighbours."""
    return len(label) + sum(a == b for a, b in zip(label, label[1:]))


def check_alignable(labels: Tensor, label_lengths: Tensor, input_lengths: Tensor, names: Sequence[str],
                    vocab: Sequence[str], *, joined: bool = False) -> None:
    """A one-line error for the first label that no path of its image's columns can spell (CTC loss = inf).

    `joined`: the lines will also be read in pairs (random_join), so each needs one column to spare:
    two lines that just fit could need one more between them (a blank, when the first one's last
    character is the second one's first)."""
    spare = int(joined)
    for row, (n, columns) in enumerate(zip(label_lengths.tolist(), input_lengths.tolist())):
        label = labels[row, :n].tolist()
        needed = min_columns(label)
        if needed + spare > columns:
            text = "".join(vocab[i] for i in label)
            raise LayerlabError(
                f"{names[row]}: the label {text!r} needs at least {needed} time steps ({n} characters + "
                f"{needed - n} blanks between repeated ones)" + (" and one to spare to be read joined to another line"
                                                                if joined else "") +
                f" but the model gives its image only {columns} columns, so the CTC loss would be infinite; use wider "
                "images, a shorter label or fewer width poolings" + (", or --join 0" if joined else ""))


class _Decoded(Metric):
    """Sums over greedy-decoded texts against their labels. A batch's best paths wait in a list and
    are decoded when the sums are read (no host sync inside a training step)."""

    reads = ("best_path", "input_lengths", "labels", "label_lengths")
    # each metric's own (numerator, denominator) of one batch of decoded texts and their labels
    score: Callable[[list[list[int]], list[list[int]]], tuple[float, float]]

    def __init__(self) -> None:
        super().__init__()
        self._held: list[tuple[Tensor, ...]] = []

    def reset(self) -> None:
        super().reset()
        self._held = []

    def update(self, best_path: Tensor, input_lengths: Tensor, labels: Tensor, label_lengths: Tensor) -> None:
        self._held.append((best_path, input_lengths, labels, label_lengths))

    def _flush(self) -> None:
        for best_path, input_lengths, labels, label_lengths in self._held:
            steps, sizes = input_lengths.cpu().tolist(), label_lengths.cpu().tolist()
            paths, truths = best_path.cpu(), labels.cpu()
            predicted = [collapse(row[:n].tolist()) for row, n in zip(paths, steps)]
            references = [row[:n].tolist() for row, n in zip(truths, sizes)]
            self._add(*self.score(predicted, references))
        self._held = []

    def sums(self) -> Tensor:
        self._flush()
        return self.state

    def compute(self) -> float:
        self._flush()
        den = float(self.state[1])
        return float(self.state[0]) / den if den > 0 else float("nan")


class SequenceAccuracy(_Decoded):
    """The fraction of texts decoded exactly right (every character, nothing more)."""

    def score(self, predicted: list[list[int]], references: list[list[int]]) -> tuple[float, float]:
        return sum(p == r for p, r in zip(predicted, references)), len(references)


class CharacterAccuracy(_Decoded):
    """The fraction of reference characters decoded right at their own position (a missing or extra
    character shifts the rest and costs them too)."""

    def score(self, predicted: list[list[int]], references: list[list[int]]) -> tuple[float, float]:
        return sum(sum(a == b for a, b in zip(p, r)) for p, r in zip(predicted, references)), sum(map(len, references))


class CharacterErrorRate(_Decoded):
    """CER: edit distance (insertions + deletions + substitutions) / reference characters."""

    higher_is_better = False

    def score(self, predicted: list[list[int]], references: list[list[int]]) -> tuple[float, float]:
        return sum(edit_distance(p, r) for p, r in zip(predicted, references)), sum(map(len, references))


def ctc_metric_objects() -> dict[str, Any]:
    """Fresh CTC metrics by the names labs and reports use (the loss is the step's)."""
    return {"sequence_accuracy": SequenceAccuracy(), "character_accuracy": CharacterAccuracy(), "cer": CharacterErrorRate()}
