"""Segmentation prediction helpers: any image size in, a score map of that size out; the overlay by hand."""

from __future__ import annotations

import torch

from layerlab.models import get_model
from layerlab.tasks.segmentation import overlay, predict_scores


def test_same_padding_nets_take_any_size_by_mirroring_to_the_next_multiple():
    model = get_model("unet", width=2, depth=2).eval()              # sides must be multiples of 4
    x = torch.randn(1, 1, 18, 21)
    assert predict_scores(model, x).shape == (1, 2, 18, 21)
    exact = torch.randn(1, 1, 20, 24)
    with torch.no_grad():
        assert torch.equal(predict_scores(model, exact), model(exact))   # nothing to pad: the plain forward


def test_valid_padding_nets_see_a_mirrored_margin_and_cover_the_whole_image():
    model = get_model("unet", width=2, depth=1, padding="valid").eval()   # 20 in -> 4 out: 8 px trimmed a side
    x = torch.randn(1, 1, 10, 12)
    assert predict_scores(model, x).shape == (1, 2, 10, 12)


def test_overlay_tints_each_class_above_zero_by_hand():
    image = torch.full((1, 1, 2), 100, dtype=torch.uint8)
    mask = torch.tensor([[0, 1]])
    # class 1 is tinted (255, 40, 40) at 45%: 0.55·100 + 0.45·255 = 169.75 -> 170; 0.55·100 + 0.45·40 = 73
    assert overlay(image, mask).tolist() == [[[100, 100, 100], [170, 73, 73]]]
