"""Segmentation metrics with running sums: one class's IoU and Dice, the ISBI "pixel error", the
adapted Rand error of connected regions. Pixel accuracy and mean IoU are in engine/metrics.py.

Each reads the step's `outputs` (B, C, H, W) class scores and `targets` (B, H, W) class ids, keeps
a few sums (all-reducible like every Metric) and declares which way is better.

Why several numbers: on the ISBI membranes a net that paints everything "cell" scores ~0.78 pixel
accuracy; the membrane IoU of that net is 0. The Rand score asks a different question: are the
cells cut into the right pieces? One missing pixel of membrane merges two cells and costs little
accuracy but much Rand score.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

from layerlab.engine.metrics import Metric
from layerlab.errors import LayerlabError


def _ratio(numerator: Tensor, denominator: Tensor) -> float:
    """numerator / denominator; NaN when nothing was counted (no pixel of the class anywhere)."""
    den = float(denominator)
    return float(numerator) / den if den > 0 else float("nan")


def _predicted(outputs: Tensor, targets: Tensor, what: str) -> Tensor:
    """Argmax class ids (B, H, W) of scores (B, C, H, W), checked against the targets' shape."""
    predicted = outputs.argmax(dim=1)
    if predicted.shape != targets.shape:
        raise LayerlabError(f"{what} needs scores (B, C, H, W) for masks (B, H, W): got {tuple(outputs.shape)} "
                            f"for {tuple(targets.shape)}")
    return predicted


class ClassIoU(Metric):
    """IoU of one class: pixels predicted AND labelled `class_index` / pixels predicted OR labelled it.

    Sums: intersection, union. An all-"cell" prediction has membrane IoU 0 whatever its accuracy.
    """

    def __init__(self, *, class_index: int = 1) -> None:
        super().__init__()
        self.class_index = class_index

    def _overlap(self, outputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        predicted = _predicted(outputs, targets, type(self).__name__) == self.class_index
        truth = targets == self.class_index
        return (predicted & truth).sum(), predicted.sum(), truth.sum()   # both, predicted, labelled

    def update(self, outputs: Tensor, targets: Tensor) -> None:
        both, predicted, labelled = self._overlap(outputs, targets)
        self._add(both, predicted + labelled - both)

    def compute(self) -> float:
        return _ratio(self.state[0], self.state[1])


class Dice(ClassIoU):
    """Dice (F1) of one class: 2 |P ∩ T| / (|P| + |T|) = 2 IoU / (1 + IoU). Sums: 2 |P ∩ T|, |P| + |T|."""

    def update(self, outputs: Tensor, targets: Tensor) -> None:
        both, predicted, labelled = self._overlap(outputs, targets)
        self._add(2 * both, predicted + labelled)


class PixelError(Metric):
    """The ISBI 2012 "pixel error": 1 - the best F-score of `class_index` over every threshold on its
    softmax probability (0.5 need not be the best cut).

    Sums: a histogram of that probability in `bins` bins, once for the pixels labelled the class
    and once for the others (2 x bins numbers whatever the data size). Predicting the class for
    the pixels in bins >= k gives TP(k) = labelled pixels in those bins, FP(k) = other pixels in
    them, FN(k) = labelled pixels below; F(k) = 2 TP / (2 TP + FP + FN). Thresholds are the bin
    edges, so the maximum is exact to 1/bins in probability.
    """

    higher_is_better = False

    def __init__(self, *, class_index: int = 1, bins: int = 256) -> None:
        self.size = 2 * bins
        super().__init__()
        self.class_index, self.bins = class_index, bins

    def update(self, outputs: Tensor, targets: Tensor) -> None:
        _predicted(outputs, targets, "pixel error")
        probs = torch.softmax(outputs.float(), dim=1)[:, self.class_index]       # (B, H, W)
        index = (probs * self.bins).long().clamp_(0, self.bins - 1)               # bin of each pixel
        index = index + self.bins * (targets != self.class_index).long()          # others in the second half
        self._add_vector(torch.bincount(index.flatten(), minlength=self.size))

    def best_f(self) -> float:
        positive, negative = self.state[: self.bins], self.state[self.bins :]
        tp = positive.flip(0).cumsum(0).flip(0)      # tp[k]: labelled pixels with probability bin >= k
        fp = negative.flip(0).cumsum(0).flip(0)
        fn = positive.sum() - tp
        f = 2 * tp / (2 * tp + fp + fn).clamp(min=1)
        return float(f.max())

    def compute(self) -> float:
        return 1.0 - self.best_f() if float(self.state.sum()) > 0 else float("nan")


def connected_regions(mask: np.ndarray, region_class: int) -> np.ndarray:
    """Label each 4-connected region of `region_class` pixels 1, 2, ...; every other pixel 0."""
    labels, _ = ndimage.label(mask == region_class)
    return labels


def rand_sums(true_labels: np.ndarray, test_labels: np.ndarray) -> tuple[float, float, float]:
    """The adapted Rand index's three sums for two labelings of one image (true label 0 is ignored):
    Σ n_ij² - N over the contingency table, Σ a_i² - N over true segments, Σ b_j² - N over test segments,
    N = the pixels kept. Each counts ordered pixel pairs in one segment (n² - n = n(n - 1))."""
    keep = true_labels.ravel() != 0
    true, test = true_labels.ravel()[keep].astype(np.int64), test_labels.ravel()[keep].astype(np.int64)
    n = float(keep.sum())
    _, joint = np.unique(true * (int(test.max(initial=0)) + 1) + test, return_counts=True)
    square = lambda counts: float((counts.astype(np.float64) ** 2).sum()) - n   # noqa: E731
    return square(joint), square(np.bincount(true)), square(np.bincount(test))


class AdaptedRandF(Metric):
    """The adapted Rand F-score (Arganda-Carreras et al. 2015, the ISBI 2012 ranking) of the connected
    regions of `region_class` (the cells) in the prediction against those in the truth.

    Pixels labelled otherwise in the truth (membrane) are ignored; a predicted membrane pixel inside
    a true cell counts as part of one "background" segment. F = 2 Σ n_ij² / (Σ a_i² + Σ b_j²) with
    the sums above added over every image (images never share a segment). Equals scikit-image's
    `adapted_rand_error` (1 - F) on one image (tests/engine/test_segmentation_metrics.py).
    Regions are found on the CPU with scipy.ndimage.label, one image at a time.
    """

    size = 3

    def __init__(self, *, region_class: int = 0) -> None:
        super().__init__()
        self.region_class = region_class

    def update(self, outputs: Tensor, targets: Tensor) -> None:
        predicted = _predicted(outputs, targets, "adapted Rand").cpu().numpy()
        truth = targets.cpu().numpy()
        sums = np.zeros(3)
        for pred, true in zip(predicted, truth):
            sums += rand_sums(connected_regions(true, self.region_class), connected_regions(pred, self.region_class))
        self._add_vector(torch.from_numpy(sums).to(outputs.device))

    def compute(self) -> float:
        both, true, test = self.state.tolist()
        return 2 * both / (true + test) if true + test > 0 else float("nan")


class AdaptedRandError(AdaptedRandF):
    """1 - the adapted Rand F-score: lower is better (scikit-image's `adapted_rand_error` first value)."""

    higher_is_better = False

    def compute(self) -> float:
        return 1.0 - super().compute()
