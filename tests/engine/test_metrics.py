"""Every metric against its textbook definition, worked out in the test on inputs small enough to check
by hand, and against a reference library (scikit-learn, sacrebleu) on random data with fixed seeds.

Also the sums contract: adding the sums of two halves of a dataset and loading them gives the metrics
of the whole (what a distributed all-reduce does), and `evaluate` over batches with a smaller last
one gives the numbers of the whole dataset at once.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from sacrebleu.metrics import BLEU as SacreBLEU
from sklearn import metrics as sk
from torch import nn

from layerlab.data import TensorData
from layerlab.engine import evaluate
from layerlab.engine.bleu import corpus_bleu
from layerlab.engine.losses import GaussianNLL, SequenceCrossEntropy, get_loss, loss_metrics
from layerlab.engine.metrics import (
    BLEU,
    CER,
    MAE,
    RMSE,
    Accuracy,
    BinaryAccuracy,
    MeanIoU,
    MeanLoss,
    Metrics,
    PixelAccuracy,
    TokenAccuracy,
    confusion_matrix,
    edit_distance,
)
from layerlab.errors import LayerlabError

# --- mean loss ------------------------------------------------------------------------------------


def test_mean_loss_weighs_batches_by_their_size() -> None:
    metric = MeanLoss()
    metric.update(torch.tensor(1.0), 64)
    metric.update(torch.tensor(2.0), 16)           # the last, smaller batch weighs 16/80, not 1/2
    assert metric.compute() == pytest.approx((64 * 1.0 + 16 * 2.0) / 80)      # 1.2, not 1.5
    assert metric.sums().tolist() == [96.0, 80.0]


def test_mean_loss_takes_token_counts_as_tensors_and_mixed_with_ints() -> None:
    metric = MeanLoss("g_loss")
    assert metric.reads == ("g_loss", "count")
    metric.update(torch.tensor(0.5), torch.tensor(10))   # a sequence batch: a mean over its 10 real tokens
    metric.update(torch.tensor(2.0), 5)
    assert metric.compute() == pytest.approx((0.5 * 10 + 2.0 * 5) / 15)


@pytest.mark.parametrize("flush", [1, 2, 3, 256])
def test_mean_loss_is_the_same_for_any_flush_size(monkeypatch: pytest.MonkeyPatch, flush: int) -> None:
    monkeypatch.setattr(MeanLoss, "FLUSH", flush)
    losses, counts = [0.25, 1.5, 3.0, 0.75, 2.0], [32, 32, 7, 32, 1]
    metric = MeanLoss()
    for loss, count in zip(losses, counts):
        metric.update(torch.tensor(loss), count)
    assert metric.sums().tolist() == [sum(l * c for l, c in zip(losses, counts)), 104.0]
    assert metric.compute() == pytest.approx(sum(l * c for l, c in zip(losses, counts)) / 104)


def test_held_batches_stay_below_flush_so_memory_is_one_chunk_not_an_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MeanLoss, "FLUSH", 3)
    monkeypatch.setattr(Accuracy, "FLUSH", 12)
    loss, accuracy = MeanLoss(), Accuracy()
    for _ in range(7):
        loss.update(torch.tensor(1.0), 8)
        accuracy.update(torch.zeros(2, 2), torch.zeros(2, dtype=torch.long))   # 4 logits a batch
        assert len(loss._losses) < 3 and sum(o.numel() for o in accuracy._outputs) < 12
    assert loss.compute() == 1.0 and accuracy.compute() == 1.0


def test_reset_forgets_the_pass_and_an_empty_pass_is_nan() -> None:
    loss, accuracy = MeanLoss(), Accuracy()
    assert math.isnan(loss.compute()) and math.isnan(accuracy.compute())
    loss.update(torch.tensor(3.0), 4)
    accuracy.update(torch.tensor([[0.0, 1.0]]), torch.tensor([1]))
    loss.reset()
    accuracy.reset()
    assert math.isnan(loss.compute()) and math.isnan(accuracy.compute())
    loss.update(torch.tensor(1.0), 2)
    assert loss.compute() == 1.0


# --- accuracy -------------------------------------------------------------------------------------

LOGITS = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.5, 0.0, 4.0], [1.0, 0.0, 0.5]])   # argmax 0, 1, 2, 0


def test_accuracy_is_the_fraction_of_argmax_hits() -> None:
    metric = Accuracy()
    metric.update(LOGITS, torch.tensor([0, 1, 1, 2]))             # hits: yes, yes, no, no
    assert metric.compute() == 0.5
    assert metric.sums().tolist() == [2.0, 4.0]


def test_a_pass_of_one_sample_has_a_metric() -> None:
    accuracy, mae = Accuracy(), MAE()
    accuracy.update(torch.tensor([[0.0, 1.0]]), torch.tensor([1]))
    mae.update(torch.tensor([2.5]), torch.tensor([1.0]))
    assert (accuracy.compute(), mae.compute()) == (1.0, 1.5)


def test_accuracy_ignores_targets_equal_to_ignore_index() -> None:
    metric = Accuracy(ignore_index=-100)
    metric.update(LOGITS, torch.tensor([0, -100, 1, 0]))          # 3 real targets, hits on rows 0 and 3
    assert metric.compute() == pytest.approx(2 / 3)
    assert metric.sums().tolist() == [2.0, 3.0]
    everything = Accuracy()
    everything.update(LOGITS, torch.tensor([0, 1, 0, 2]))         # no ignore_index: class 0 is a class like any
    assert everything.compute() == 0.5


def test_token_accuracy_reads_the_last_dim_and_skips_the_datas_pad_id() -> None:
    logits = torch.zeros(2, 3, 5)                                 # (B, T, V)
    logits[0, 0, 4] = logits[0, 1, 2] = logits[0, 2, 3] = logits[1, 0, 4] = logits[1, 1, 1] = logits[1, 2, 3] = 1.0
    targets = torch.tensor([[4, 2, 3], [4, 3, 3]])                # pad id 3 (not 0): 3 real tokens
    metric = TokenAccuracy(pad_id=3)
    metric.update(logits, targets)
    assert metric.compute() == pytest.approx(3 / 3)               # 4, 2, 4 right; the pads do not count
    metric = TokenAccuracy(pad_id=0)
    metric.update(logits, targets)
    assert metric.compute() == pytest.approx(5 / 6)               # [1, 1] predicts 1 against 3


def test_pixel_accuracy_compares_score_maps_with_a_mask() -> None:
    scores = torch.zeros(1, 3, 2, 2)                              # (B, C, H, W)
    scores[0, 0, 0, 0] = scores[0, 1, 0, 1] = scores[0, 2, 1, 0] = scores[0, 1, 1, 1] = 1.0   # predicted [[0, 1], [2, 1]]
    metric = PixelAccuracy(ignore_index=255)
    metric.update(scores, torch.tensor([[[0, 1], [255, 2]]]))     # 3 labelled pixels, 2 right
    assert metric.compute() == pytest.approx(2 / 3)
    plain = PixelAccuracy()
    plain.update(scores, torch.tensor([[[0, 1], [2, 2]]]))
    assert plain.compute() == 0.75


def test_accuracy_with_one_score_per_target_is_an_error_that_names_both_shapes() -> None:
    metric = Accuracy()
    metric.update(torch.randn(4, 3), torch.zeros(4, 2, dtype=torch.long))
    with pytest.raises(LayerlabError, match=r"give \(4,\) predictions but the targets are \(4, 2\)"):
        metric.compute()


@pytest.mark.parametrize("flush", [1, 7, 50, 1 << 22])
def test_accuracy_is_the_same_for_any_flush_size(monkeypatch: pytest.MonkeyPatch, flush: int) -> None:
    monkeypatch.setattr(Accuracy, "FLUSH", flush)
    g = torch.Generator().manual_seed(3)
    batches = [(torch.randn(n, 4, generator=g), torch.randint(-1, 4, (n,), generator=g)) for n in (5, 8, 8, 2)]
    metric = Accuracy(ignore_index=-1)
    for logits, targets in batches:
        metric.update(logits, targets)
    logits, targets = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    real = targets != -1
    assert metric.sums().tolist() == [float((logits.argmax(1) == targets)[real].sum()), float(real.sum())]


def test_accuracy_matches_scikit_learn_over_batches_with_a_smaller_last_one() -> None:
    g = torch.Generator().manual_seed(0)
    logits, targets = torch.randn(100, 5, generator=g), torch.randint(0, 5, (100,), generator=g)
    metric = Accuracy()
    for start in range(0, 100, 32):
        metric.update(logits[start : start + 32], targets[start : start + 32])
    assert metric.compute() == pytest.approx(sk.accuracy_score(targets.numpy(), logits.argmax(1).numpy()))


# --- yes/no accuracy ------------------------------------------------------------------------------


def test_binary_accuracy_at_threshold_0_for_logits() -> None:
    metric = BinaryAccuracy(threshold=0.0)
    # logit 0 is sigmoid 0.5, not above the threshold: class 0. Predicted 0, 1, 1, 0, 0
    metric.update(torch.tensor([-1.0, 0.2, 3.0, -0.1, 0.0]), torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0]))
    assert metric.compute() == pytest.approx(3 / 5)


def test_binary_accuracy_at_threshold_one_half_for_probabilities() -> None:
    metric = BinaryAccuracy(threshold=0.5)
    probabilities = torch.tensor([[0.4], [0.6], [0.5], [0.9], [0.1]])   # (N, 1) against (N,): the same column
    metric.update(probabilities, torch.tensor([0.0, 1.0, 1.0, 1.0, 1.0]))   # predicted 0, 1, 0, 1, 0
    assert metric.compute() == pytest.approx(3 / 5)
    # thresholding probabilities at 0 (the old bug) would call all five "yes": 4/5, the positive rate
    wrong = BinaryAccuracy(threshold=0.0)
    wrong.update(probabilities, torch.tensor([0.0, 1.0, 1.0, 1.0, 1.0]))
    assert wrong.compute() == pytest.approx(4 / 5)


def test_losses_declare_the_metrics_and_thresholds_they_imply() -> None:
    logits = loss_metrics(get_loss("bce_with_logits"))
    probabilities = loss_metrics(get_loss("bce"))
    assert isinstance(logits["accuracy"], BinaryAccuracy) and logits["accuracy"].threshold == 0.0
    assert isinstance(probabilities["accuracy"], BinaryAccuracy) and probabilities["accuracy"].threshold == 0.5
    for name in ("mse", "sum_of_squares"):
        assert sorted(loss_metrics(get_loss(name))) == ["loss", "mae", "rmse"]
    assert sorted(loss_metrics(nn.L1Loss())) == ["loss", "mae", "rmse"]
    assert list(loss_metrics(GaussianNLL())) == ["loss"]          # an unknown kind of loss: its mean only
    for name in ("cross_entropy", "nll"):
        accuracy = loss_metrics(get_loss(name))["accuracy"]
        assert type(accuracy) is Accuracy and accuracy.ignore_index is None and accuracy.class_dim == 1
    assert loss_metrics(nn.CrossEntropyLoss(ignore_index=7))["accuracy"].ignore_index == 7
    tokens = loss_metrics(SequenceCrossEntropy(pad_id=3))["accuracy"]
    assert isinstance(tokens, TokenAccuracy) and (tokens.ignore_index, tokens.class_dim) == (3, -1)
    unpadded = loss_metrics(SequenceCrossEntropy(pad_id=None))["accuracy"]
    assert type(unpadded) is Accuracy and (unpadded.ignore_index, unpadded.class_dim) == (None, -1)


def test_higher_is_better_is_declared_by_each_metric() -> None:
    better_higher = [Accuracy(), TokenAccuracy(pad_id=0), PixelAccuracy(), BinaryAccuracy(threshold=0.5),
                     MeanIoU(num_classes=2), BLEU()]
    better_lower = [MeanLoss(), RMSE(), MAE(), CER()]
    assert all(m.higher_is_better for m in better_higher) and not any(m.higher_is_better for m in better_lower)


# --- regression -----------------------------------------------------------------------------------


def test_rmse_and_mae_of_errors_3_and_minus_4() -> None:
    outputs, targets = torch.tensor([[4.0], [1.0]]), torch.tensor([[1.0], [5.0]])   # errors 3, -4
    rmse, mae = RMSE(), MAE()
    rmse.update(outputs, targets)
    mae.update(outputs, targets)
    assert rmse.compute() == pytest.approx(math.sqrt((9 + 16) / 2))   # sqrt(12.5) = 3.5355
    assert mae.compute() == pytest.approx(3.5)


def test_rmse_sums_squares_over_batches_before_the_root() -> None:
    rmse = RMSE()
    rmse.update(torch.tensor([3.0]), torch.tensor([0.0]))                   # one error of 3
    rmse.update(torch.tensor([[0.0], [0.0], [0.0]]), torch.tensor([0.0, 0.0, 0.0]))   # (N, 1) against (N,)
    assert rmse.compute() == pytest.approx(math.sqrt(9 / 4))               # 1.5, not the mean of 3 and 0


def test_regression_metrics_reject_a_model_of_the_wrong_width() -> None:
    for metric, name in ((RMSE(), "RMSE"), (MAE(), "MAE"), (BinaryAccuracy(threshold=0.5), "binary accuracy")):
        with pytest.raises(LayerlabError) as err:
            metric.update(torch.zeros(4, 2), torch.zeros(4, 1))
        assert str(err.value) == (f"{name} compares outputs with targets of the same shape, but the model gives (4, 2) and "
                                  "the targets are (4, 1) (does the last layer have as many outputs as there are target columns?)")
    with pytest.raises(LayerlabError, match=r"gives \(3, 1\) and the targets are \(4,\)"):
        RMSE().update(torch.zeros(3, 1), torch.zeros(4))
    with pytest.raises(LayerlabError, match=r"gives \(2, 3\) and the targets are \(3, 2\)"):
        RMSE().update(torch.zeros(2, 3), torch.zeros(3, 2))           # as many values, but not the same column
    per_step = RMSE()
    per_step.update(torch.full((2, 3, 1), 2.0), torch.zeros(2, 3))     # (B, T, 1) against (B, T): one column
    assert per_step.compute() == 2.0


def test_rmse_and_mae_match_scikit_learn_on_two_target_columns() -> None:
    rng = np.random.default_rng(0)
    outputs, targets = rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) * 3
    rmse, mae = RMSE(), MAE()
    for start in range(0, 100, 32):
        part = slice(start, start + 32)
        rmse.update(torch.from_numpy(outputs[part]), torch.from_numpy(targets[part]))
        mae.update(torch.from_numpy(outputs[part]).float(), torch.from_numpy(targets[part]).float())
    assert rmse.compute() == pytest.approx(math.sqrt(sk.mean_squared_error(targets, outputs)), rel=1e-12)
    assert mae.compute() == pytest.approx(sk.mean_absolute_error(targets, outputs), rel=1e-6)


# --- segmentation ---------------------------------------------------------------------------------


def test_mean_iou_of_a_2x2_mask_by_hand_leaves_absent_classes_out() -> None:
    predicted = torch.tensor([[[0, 1], [2, 2]]])                  # (B, H, W) class ids
    target = torch.tensor([[[0, 1], [1, 2]]])
    # class 0: 1 shared pixel / 1 in the union = 1;  class 1: {(0,1)} / {(0,1), (1,0)} = 1/2
    # class 2: {(1,1)} / {(1,0), (1,1)} = 1/2;  class 3 appears in neither: left out (not 0, not 1)
    metric = MeanIoU(num_classes=4)
    metric.update(predicted, target)
    assert metric.per_class()[:3].tolist() == [1.0, 0.5, 0.5] and math.isnan(metric.per_class()[3])
    assert metric.compute() == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert metric.sums().view(4, 4)[1].tolist() == [0, 1, 1, 0]   # row: true class 1, column: predicted


def test_mean_iou_takes_score_maps_and_skips_ignored_pixels() -> None:
    scores = F.one_hot(torch.tensor([[[0, 1], [2, 2]]]), 3).permute(0, 3, 1, 2).float()   # (B, C, H, W)
    metric = MeanIoU(num_classes=3, ignore_index=255)
    metric.update(scores, torch.tensor([[[0, 1], [255, 2]]]))      # the disputed pixel is unlabelled
    assert metric.compute() == 1.0
    empty = MeanIoU(num_classes=3)
    assert math.isnan(empty.compute())


def test_mean_iou_matches_scikit_learns_macro_jaccard() -> None:
    g = torch.Generator().manual_seed(1)
    predicted, target = torch.randint(0, 4, (3, 5, 5), generator=g), torch.randint(0, 4, (3, 5, 5), generator=g)
    target[target == 3] = 2                                       # class 3 only predicted, never labelled
    metric = MeanIoU(num_classes=6)                               # classes 4 and 5 appear nowhere
    metric.update(predicted[:2], target[:2])
    metric.update(predicted[2:], target[2:])
    expected = sk.jaccard_score(target.flatten().numpy(), predicted.flatten().numpy(), average="macro")
    assert metric.compute() == pytest.approx(expected)


def test_confusion_matrix_by_hand_and_against_scikit_learn() -> None:
    counts = confusion_matrix(torch.tensor([0, 2, 1, 1]), torch.tensor([0, 1, 1, 2]), 3)
    assert counts.tolist() == [[1, 0, 0], [0, 1, 1], [0, 1, 0]]   # row: true class, column: predicted
    g = torch.Generator().manual_seed(2)
    predicted, targets = torch.randint(0, 4, (200,), generator=g), torch.randint(0, 4, (200,), generator=g)
    expected = sk.confusion_matrix(targets.numpy(), predicted.numpy(), labels=[0, 1, 2, 3, 4])
    assert confusion_matrix(predicted, targets, 5).numpy().tolist() == expected.tolist()


# --- text -----------------------------------------------------------------------------------------


def test_cer_of_kitten_against_sitting_is_3_over_7() -> None:
    metric = CER()
    metric.update(["kitten"], ["sitting"])                        # k->s, e->i, +g: 3 edits, 7 reference characters
    assert metric.compute() == pytest.approx(3 / 7)


def test_cer_sums_edits_and_lengths_over_the_corpus() -> None:
    metric = CER()
    metric.update(["ab"], ["abcd"])                               # 2 edits / 4
    metric.update([["x"]], [["x"]])                               # token lists work as well as strings: 0 / 1
    assert metric.compute() == pytest.approx(2 / 5)               # not the mean of 1/2 and 0
    with pytest.raises(LayerlabError, match="CER needs one reference per prediction: got 2 and 1"):
        metric.update(["a", "b"], ["a"])


@functools.cache
def _levenshtein(a: str, b: str) -> int:
    """The textbook recursion (delete, insert, substitute), independent of the table in metrics.py."""
    if not a or not b:
        return len(a) + len(b)
    return min(_levenshtein(a[1:], b) + 1, _levenshtein(a, b[1:]) + 1, _levenshtein(a[1:], b[1:]) + (a[0] != b[0]))


@settings(max_examples=60, deadline=None)
@given(st.text("abc", max_size=7), st.text("abc", max_size=7))
def test_edit_distance_matches_the_textbook_recursion(a: str, b: str) -> None:
    assert edit_distance(a, b) == _levenshtein(a, b) == edit_distance(b, a)


def test_edit_distance_examples() -> None:
    assert edit_distance("", "abc") == 3 and edit_distance("abc", "") == 3
    assert edit_distance("flaw", "lawn") == 2 and edit_distance("abc", "abc") == 0


CANDIDATES = ["the cat sat on the mat".split(), "hello there you".split(), "a b c d e".split()]
REFERENCES = ["the cat is on the mat".split(), "hello there".split(), "a b c d f g".split()]


def _sacrebleu(candidates: list[list[str]], references: list[list[str]], max_n: int) -> float:
    """Plain corpus BLEU from sacrebleu: text already tokenised (split on spaces), no smoothing, in [0, 1]."""
    bleu = SacreBLEU(tokenize="none", smooth_method="none", max_ngram_order=max_n)
    return bleu.corpus_score([" ".join(c) for c in candidates], [[" ".join(r) for r in references]]).score / 100


@pytest.mark.parametrize("max_n", [1, 2, 3, 4])
def test_bleu_metric_matches_corpus_bleu_and_sacrebleu(max_n: int) -> None:
    metric = BLEU(max_n=max_n)
    metric.update(CANDIDATES[:2], REFERENCES[:2])                 # two batches: the sums run over the corpus
    metric.update(CANDIDATES[2:], REFERENCES[2:])
    assert metric.compute() == pytest.approx(corpus_bleu(CANDIDATES, REFERENCES, max_n=max_n))
    assert metric.compute() == pytest.approx(_sacrebleu(CANDIDATES, REFERENCES, max_n))


def test_bleu_metric_is_bleu_4_by_default() -> None:
    candidate, reference = "a b c d e f".split(), "a b c d e g".split()   # p5 = 1/2 would change BLEU-5
    metric = BLEU()
    metric.update([candidate], [reference])
    assert metric.compute() == pytest.approx(corpus_bleu([candidate], [reference], max_n=4)) == pytest.approx(
        (5 / 6 * 4 / 5 * 3 / 4 * 2 / 3) ** (1 / 4))
    assert len(metric.sums()) == 2 * 4 + 2


def test_bleu_metric_of_short_translations_pays_the_brevity_penalty() -> None:
    metric = BLEU(max_n=2)
    metric.update([["the", "cat"]], [CANDIDATES[0]])              # p1 = p2 = 1, c = 2 < r = 6
    assert metric.compute() == pytest.approx(math.exp(1 - 6 / 2))
    assert metric.sums().tolist() == [2, 2, 1, 1, 2, 6]           # matches and n-grams per order, then c and r
    longer = BLEU(max_n=1)
    longer.update([["the", "cat", "the"]], [["the", "cat"]])      # c = 3 > r = 2: no penalty, p1 = 2/3
    assert longer.compute() == pytest.approx(2 / 3)


def test_bleu_metric_is_zero_when_an_order_has_no_match_and_checks_its_input() -> None:
    metric = BLEU(max_n=2)
    metric.update([["a", "b"]], [["b", "a"]])                     # p1 = 1, but no bigram matches
    assert metric.compute() == 0.0
    with pytest.raises(LayerlabError, match="BLEU needs one reference per candidate: got 1 and 2"):
        metric.update([["a"]], [["a"], ["b"]])
    with pytest.raises(LayerlabError, match="BLEU's n-gram order must be at least 1, got 0"):
        BLEU(max_n=0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.lists(st.sampled_from("abcd"), min_size=1, max_size=8),
                          st.lists(st.sampled_from("abcd"), min_size=1, max_size=8)), min_size=1, max_size=4))
def test_bleu_2_matches_sacrebleu_on_random_corpora(pairs: list[tuple[list[str], list[str]]]) -> None:
    candidates, references = [c for c, _ in pairs], [r for _, r in pairs]
    metric = BLEU(max_n=2)
    metric.update(candidates, references)
    assert metric.compute() == pytest.approx(_sacrebleu(candidates, references, 2), abs=1e-9)


# --- the collection and its sums ------------------------------------------------------------------


def _classification_metrics() -> Metrics:
    return Metrics({"loss": MeanLoss(), "accuracy": Accuracy(ignore_index=-1), "iou": MeanIoU(num_classes=3, ignore_index=-1)})


def _regression_metrics() -> Metrics:
    return Metrics({"rmse": RMSE(), "mae": MAE(), "positive": BinaryAccuracy(threshold=0.0)})


def _text_metrics() -> Metrics:
    return Metrics({"cer": CER(), "bleu": BLEU(max_n=2)})


def _batches(rows: range) -> list[tuple[Callable[[], Metrics], list[dict]]]:
    """Per-batch values of three kinds of step, in batches of 16, for `rows` of one fixed dataset of 90."""
    g = torch.Generator().manual_seed(4)
    logits, labels = torch.randn(90, 3, generator=g), torch.randint(-1, 3, (90,), generator=g)   # -1: unlabelled
    outputs, targets = torch.randn(90, 2, generator=g), torch.randn(90, 2, generator=g)
    words = [["a", "b", "c", "a"][: 1 + i % 4] for i in range(90)]
    guesses = [w[::-1] if i % 3 else w for i, w in enumerate(words)]
    batches = [list(rows[i : i + 16]) for i in range(0, len(rows), 16)]
    # the loss of a batch is a mean over its labelled rows, so that is what it weighs by (as for padded tokens)
    classification = [{"loss": F.cross_entropy(logits[b], labels[b], ignore_index=-1), "count": (labels[b] != -1).sum(),
                       "outputs": logits[b], "targets": labels[b]} for b in batches]
    regression = [{"outputs": outputs[b], "targets": targets[b]} for b in batches]
    text = [{"predictions": [guesses[i] for i in b], "references": [words[i] for i in b]} for b in batches]
    return [(_classification_metrics, classification), (_regression_metrics, regression), (_text_metrics, text)]


def _run(metrics: Metrics, values: list[dict]) -> Metrics:
    for batch_values in values:
        metrics.update(batch_values)
    return metrics


def test_sums_of_two_halves_added_and_loaded_give_the_whole_datasets_metrics() -> None:
    """What a distributed run does: each process sums its shard, one all-reduce adds the sums."""
    for (build, whole), (_, first), (_, second) in zip(_batches(range(90)), _batches(range(37)), _batches(range(37, 90))):
        expected = _run(build(), whole).compute()
        halves = _run(build(), first), _run(build(), second)
        added = halves[0].sums() + halves[1].sums()
        loaded = build()
        loaded.load_sums(added)
        assert loaded.compute() == pytest.approx(expected, rel=1e-6)     # float32 losses summed in another order
        assert len(added) == sum(m.size for m in loaded.metrics.values()) and added.dtype == torch.float64
        assert halves[0].compute() != pytest.approx(expected)    # a half alone does differ


def test_metrics_update_compute_with_a_prefix_and_name_a_missing_value() -> None:
    metrics = Metrics({"loss": MeanLoss(), "accuracy": Accuracy()})
    metrics.update({"loss": torch.tensor(0.5), "count": 4, "outputs": LOGITS, "targets": torch.tensor([0, 1, 2, 1])})
    assert metrics.compute("val_") == {"val_loss": 0.5, "val_accuracy": 0.75}
    assert "accuracy" in metrics and "rmse" not in metrics and metrics["loss"].reads == ("loss", "count")
    assert metrics.higher_is_better("accuracy") and not metrics.higher_is_better("loss")
    with pytest.raises(LayerlabError, match=r"metric 'accuracy' reads 'targets', but the step returns only \['count', 'loss', 'outputs'\]"):
        metrics.update({"loss": torch.tensor(0.5), "count": 4, "outputs": LOGITS})
    metrics.reset()
    assert sorted(metrics.compute()) == ["accuracy", "loss"] and all(math.isnan(v) for v in metrics.compute().values())
    assert Metrics({}).sums().tolist() == [] and Metrics({}).compute() == {}


def test_sums_stay_on_the_device_of_the_batches() -> None:
    """On a GPU the sums must live beside the batches (no host sync per step); the meta device shows it here."""
    accuracy, loss = Accuracy(), MeanLoss()
    accuracy.update(torch.randn(4, 3, device="meta"), torch.zeros(4, dtype=torch.long, device="meta"))
    loss.update(torch.tensor(1.0, device="meta"), 4)
    assert accuracy.sums().device.type == "meta" and loss.sums().device.type == "meta"
    accuracy.reset()                                  # a new pass starts where the last one ran
    assert accuracy.sums().device.type == "meta" and accuracy.sums().dtype == torch.float64
    accuracy.load_sums(torch.tensor([3.0, 4.0], dtype=torch.float32))   # all-reduced on the CPU, back to the batches
    assert accuracy.sums().device.type == "meta" and accuracy.sums().dtype == torch.float64


def test_sums_are_float64_after_a_reset_and_a_load() -> None:
    """float32 sums stop counting at 2**24 = 16,777,216: a pass over ImageNet's pixels would stall."""
    accuracy = Accuracy()
    accuracy.reset()
    accuracy.update(torch.tensor([[0.0, 1.0]]), torch.tensor([1]))
    assert accuracy.sums().dtype == torch.float64
    accuracy.load_sums(torch.tensor([2.0**24, 2.0**24 + 2], dtype=torch.float32))
    accuracy.update(torch.tensor([[0.0, 1.0]]), torch.tensor([1]))
    assert accuracy.sums().tolist() == [2.0**24 + 1, 2.0**24 + 3]


# --- evaluate over a dataset ----------------------------------------------------------------------


def _linear(in_features: int, out_features: int, seed: int) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(in_features, out_features)


def test_evaluate_over_batches_of_32_gives_the_metrics_of_all_100_samples_at_once() -> None:
    g = torch.Generator().manual_seed(5)
    inputs, targets = torch.randn(100, 4, generator=g), torch.randint(0, 3, (100,), generator=g)
    model = _linear(4, 3, seed=0)
    result = evaluate(model, TensorData(inputs, targets), loss="cross_entropy", batch_size=32)   # 32, 32, 32, 4
    with torch.no_grad():
        logits = model(inputs)
    assert result["loss"] == pytest.approx(F.cross_entropy(logits, targets).item(), rel=1e-6)
    assert result["accuracy"] == pytest.approx((logits.argmax(1) == targets).float().mean().item())
    assert sorted(result) == ["accuracy", "loss"]


@pytest.mark.parametrize("loss", ["mse", "sum_of_squares"])
def test_evaluate_regression_reports_per_sample_means_whatever_the_loss_reduction(loss: str) -> None:
    g = torch.Generator().manual_seed(6)
    inputs, targets = torch.randn(100, 3, generator=g), torch.randn(100, 2, generator=g)
    model = _linear(3, 2, seed=1)
    result = evaluate(model, TensorData(inputs, targets), loss=loss, batch_size=32, prefix="test_")
    with torch.no_grad():
        errors = model(inputs) - targets
    per_sample = errors.pow(2).mean() if loss == "mse" else errors.pow(2).sum() / 100   # a sum: per sample, not per batch
    assert result["test_loss"] == pytest.approx(per_sample.item(), rel=1e-5)
    assert result["test_rmse"] == pytest.approx(errors.pow(2).mean().sqrt().item(), rel=1e-5)
    assert result["test_mae"] == pytest.approx(errors.abs().mean().item(), rel=1e-5)


def test_evaluate_sequences_weighs_each_batch_by_its_real_tokens() -> None:
    targets = torch.tensor([[1, 2, 3, 0], [2, 0, 0, 0], [3, 3, 0, 0], [1, 1, 1, 1], [2, 0, 0, 0]])   # 0 = <pad>
    model = nn.Embedding(4, 4)                        # token -> scores for the next token: (B, T) -> (B, T, V)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.0, 0, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]]))
        logits = model(targets)
    result = evaluate(model, TensorData(targets, targets), loss=SequenceCrossEntropy(pad_id=0), batch_size=2)
    real = targets != 0                                                  # 11 real tokens in batches of 4, 6, 1
    by_hand = F.cross_entropy(logits[real], targets[real])              # the mean over every real token
    assert result["loss"] == pytest.approx(by_hand.item(), rel=1e-6)
    assert result["accuracy"] == pytest.approx((logits.argmax(-1) == targets)[real].float().mean().item())
    assert result["accuracy"] == pytest.approx(8 / 11)                  # tokens 1 and 3 right, token 2 wrong


def test_evaluate_with_the_users_metric_objects_starts_every_pass_from_zero() -> None:
    data = TensorData(torch.eye(3), torch.tensor([0, 1, 1]))
    accuracy = Accuracy()
    model = _linear(3, 3, seed=0)
    with torch.no_grad():
        model.weight.copy_(torch.eye(3))
        model.bias.zero_()
    first = evaluate(model, data, metrics={"accuracy": accuracy}, batch_size=2)
    second = evaluate(model, data, metrics={"accuracy": accuracy}, batch_size=2)
    assert first == second == {"accuracy": pytest.approx(2 / 3)}
    assert math.isnan(accuracy.compute())                # the object passed in is never written into
