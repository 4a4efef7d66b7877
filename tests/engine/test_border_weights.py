"""The U-Net paper's border weight map, on masks small enough to work out by hand."""

import math

import pytest
import torch
import torch.nn.functional as F

from layerlab.engine.border_weights import BorderWeightedCrossEntropy, border_weights
from layerlab.errors import LayerlabError


def two_cells(gap: int, *, height: int = 6) -> torch.Tensor:
    """Cells (0) in columns 0-3 and after a membrane (1) of `gap` columns: mask (1, height, 8 + gap)."""
    mask = torch.zeros(1, height, 8 + gap, dtype=torch.long)
    mask[..., 4:4 + gap] = 1
    return mask


def test_a_thin_membrane_between_two_cells_weighs_one_plus_w0_exp_of_d1_plus_d2():
    weights = border_weights(two_cells(2), w0=10.0, sigma=5.0)
    expected = 1 + 10 * math.exp(-(1 + 2) ** 2 / 50)          # column 4: d1 = 1 (column 3), d2 = 2 (column 6)
    assert weights[0, :, 4].tolist() == pytest.approx([expected] * 6, rel=1e-6)
    assert weights[0, :, 5].tolist() == pytest.approx([expected] * 6, rel=1e-6)     # the mirror image
    assert weights[0, :, :4].eq(1).all() and weights[0, :, 6:].eq(1).all()          # cells keep their class weight


def test_a_wider_gap_weighs_less_and_the_middle_of_a_gap_is_found_from_both_sides():
    thin, wide = border_weights(two_cells(2))[0, 0], border_weights(two_cells(6))[0, 0]
    assert wide[4] < thin[4]
    assert float(wide[4]) == pytest.approx(1 + 10 * math.exp(-(1 + 6) ** 2 / 50), rel=1e-6)     # d1 1, d2 6
    assert float(wide[6]) == pytest.approx(1 + 10 * math.exp(-(3 + 4) ** 2 / 50), rel=1e-6)     # d1 3, d2 4


def test_one_cell_alone_has_no_border_term_and_class_weights_apply():
    mask = torch.ones(1, 7, 7, dtype=torch.long)
    mask[0, 2:5, 2:5] = 0                                          # one cell inside a membrane
    weights = border_weights(mask, class_weights=(1.0, 3.0))
    assert weights[0][mask[0] == 0].eq(1).all() and weights[0][mask[0] == 1].eq(3).all()


def test_the_loss_is_plain_cross_entropy_when_w0_is_zero_and_weighs_the_border_otherwise():
    torch.manual_seed(0)
    masks = two_cells(2).repeat(2, 1, 1)
    logits = torch.randn(2, 2, *masks.shape[1:])
    plain = F.cross_entropy(logits, masks)
    assert float(BorderWeightedCrossEntropy(w0=0.0)(logits, masks)) == pytest.approx(float(plain), rel=1e-6)
    per_pixel = F.cross_entropy(logits, masks, reduction="none")
    weights = border_weights(masks)
    expected = float((per_pixel * weights).sum() / weights.sum())
    assert float(BorderWeightedCrossEntropy(w0=10.0)(logits, masks)) == pytest.approx(expected, rel=1e-6)
    assert expected != pytest.approx(float(plain), rel=1e-3)


def test_a_negative_w0_or_sigma_is_one_line():
    with pytest.raises(LayerlabError, match="w0 >= 0 and sigma > 0"):
        BorderWeightedCrossEntropy(w0=-1.0)
    with pytest.raises(LayerlabError, match="w0 >= 0 and sigma > 0"):
        BorderWeightedCrossEntropy(sigma=0.0)
