"""Segmentation metrics against hand counts and against scikit-image's adapted Rand error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import metrics as skimage_metrics

from layerlab.engine.metrics import Metrics, PixelAccuracy
from layerlab.engine.segmentation_metrics import (
    AdaptedRandError, AdaptedRandF, ClassIoU, Dice, PixelError, connected_regions, rand_sums,
)


def _scores(predicted: torch.Tensor, num_classes: int = 2) -> torch.Tensor:
    """One-hot scores (B, C, H, W) whose argmax is `predicted` (B, H, W)."""
    return torch.nn.functional.one_hot(predicted, num_classes).permute(0, 3, 1, 2).float()


def test_membrane_iou_and_dice_by_hand_and_zero_for_an_all_cell_prediction():
    truth = torch.tensor([[[1, 1, 0, 0], [0, 0, 0, 0]]])           # 2 membrane pixels
    guess = torch.tensor([[[1, 0, 1, 1], [0, 0, 0, 0]]])           # 3 predicted, 1 right
    metrics = Metrics({"iou": ClassIoU(class_index=1), "dice": Dice(class_index=1), "acc": PixelAccuracy()})
    metrics.update({"outputs": _scores(guess), "targets": truth})
    # IoU = 1 / (3 + 2 - 1) = 0.25; Dice = 2·1 / (3 + 2) = 0.4; accuracy: 5 of 8 pixels right
    assert metrics.compute() == {"iou": 0.25, "dice": 0.4, "acc": 0.625}
    all_cell = Metrics({"iou": ClassIoU(), "acc": PixelAccuracy()})
    all_cell.update({"outputs": _scores(torch.zeros_like(truth)), "targets": truth})
    assert all_cell.compute() == {"iou": 0.0, "acc": 0.75}


def test_pixel_error_is_one_minus_the_best_f_score_over_thresholds():
    # membrane probabilities 0.9, 0.8, 0.3, 0.1 for labels 1, 0, 1, 0. Cuts: >= 0.9: F = 2/3;
    # >= 0.8: 2/4; >= 0.3: TP 2, FP 1, FN 0, F = 4/5; >= 0.1: 4/6. Best 0.8, pixel error 0.2.
    probs = torch.tensor([0.9, 0.8, 0.3, 0.1])
    logits = torch.stack([torch.zeros(4), torch.log(probs / (1 - probs))]).view(1, 2, 1, 4)
    metric = PixelError()
    metric.update(logits, torch.tensor([[[1, 0, 1, 0]]]))
    assert metric.compute() == pytest.approx(0.2)
    assert metric.sums().numel() == 512                               # two 256-bin histograms, any data size


def test_pixel_error_state_adds_across_batches_like_one_batch():
    torch.manual_seed(0)
    logits, targets = torch.randn(4, 2, 8, 8), torch.randint(0, 2, (4, 8, 8))
    whole, parts = PixelError(), PixelError()
    whole.update(logits, targets)
    parts.update(logits[:1], targets[:1])
    parts.update(logits[1:], targets[1:])
    assert torch.equal(whole.sums(), parts.sums()) and whole.compute() == parts.compute()


def test_adapted_rand_of_a_split_cell_by_hand():
    # truth: one cell of 4 pixels (label 1) and membrane (0, ignored); the prediction splits it in two.
    true = np.array([[1, 1, 1, 1]])
    test = np.array([[1, 1, 2, 2]])
    both, t, p = rand_sums(true, test)
    assert (both, t, p) == (2 * 4 - 4, 16 - 4, 8 - 4)                # Σn² - N = 4, Σa² - N = 12, Σb² - N = 4
    # F = 2·4 / (12 + 4) = 0.5


def test_adapted_rand_f_of_one_cell_cut_by_a_predicted_membrane_pixel():
    # truth: one cell of 5 pixels (class 0); the prediction puts membrane (1) in the middle: regions
    # {0, 1} and {3, 4} plus the membrane pixel as segment 0. Σn² - N = 4 + 1 + 4 - 5 = 4,
    # Σa² - N = 25 - 5 = 20, Σb² - N = 4; F = 2·4 / (20 + 4) = 1/3.
    metric = AdaptedRandF(region_class=0)
    metric.update(_scores(torch.tensor([[[0, 0, 1, 0, 0]]])), torch.tensor([[[0, 0, 0, 0, 0]]]))
    assert metric.compute() == pytest.approx(1 / 3)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_adapted_rand_equals_scikit_image_on_random_cell_masks(seed):
    rng = np.random.default_rng(seed)
    truth = (rng.random((2, 24, 24)) > 0.3).astype(np.int64)         # 1 = cell here, then made class 0
    guess = truth.copy()
    flips = rng.random(truth.shape) < 0.1
    guess[flips] = 1 - guess[flips]
    targets, predicted = torch.from_numpy(1 - truth), torch.from_numpy(1 - guess)   # class 0 = cell, 1 = membrane
    f_metric, error = AdaptedRandF(region_class=0), AdaptedRandError(region_class=0)
    f_metric.update(_scores(predicted[:1]), targets[:1])
    error.update(_scores(predicted[:1]), targets[:1])
    true_labels, test_labels = connected_regions(targets[0].numpy(), 0), connected_regions(predicted[0].numpy(), 0)
    are, _, _ = skimage_metrics.adapted_rand_error(true_labels, test_labels)
    assert error.compute() == pytest.approx(are, abs=1e-12)
    assert f_metric.compute() == pytest.approx(1 - are, abs=1e-12)
    # two images = one image holding both side by side with distinct labels (no pair crosses images)
    f_metric.update(_scores(predicted[1:]), targets[1:])
    second_true = connected_regions(targets[1].numpy(), 0)
    second_test = connected_regions(predicted[1].numpy(), 0)
    joined_true = np.concatenate([true_labels, np.where(second_true > 0, second_true + true_labels.max(), 0)], axis=1)
    joined_test = np.concatenate([test_labels, np.where(second_test > 0, second_test + test_labels.max() + 1,
                                                        test_labels.max() + 1)], axis=1)
    are2, _, _ = skimage_metrics.adapted_rand_error(joined_true, joined_test)
    assert f_metric.compute() == pytest.approx(1 - are2, abs=1e-12)
