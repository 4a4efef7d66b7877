"""Segmentation prediction helpers: any image size in, a score map of that size out; the overlay by hand;
test-time augmentation over the 8 symmetries of a square and a threshold chosen on validation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from layerlab.errors import LayerlabError
from layerlab.models import get_model
from layerlab.tasks.segmentation import (
    DIHEDRAL, Segmenter, choose_threshold, dihedral, overlay, predict_scores, threshold_scores, undo_dihedral,
)


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


def test_the_eight_dihedral_views_are_distinct_and_each_is_undone():
    x = torch.arange(12.0).view(1, 1, 3, 4)
    views = [dihedral(x, turns, flip) for turns, flip in DIHEDRAL]
    assert len({tuple(v.shape) + tuple(v.flatten().tolist()) for v in views}) == 8
    assert [v.shape[-2:] for v in views[:4]] == [(3, 4), (3, 4), (4, 3), (4, 3)]     # odd turns swap H and W
    for (turns, flip), v in zip(DIHEDRAL, views):
        assert torch.equal(undo_dihedral(v, turns, flip), x)
    assert dihedral(x, 1, False)[0, 0, 0].tolist() == [3.0, 7.0, 11.0]     # a quarter turn counter-clockwise


def test_tta_of_a_pixelwise_net_equals_the_net_itself():
    net = nn.Conv2d(1, 2, kernel_size=1)           # per pixel: equivariant to every flip and turn
    x = torch.randn(2, 1, 5, 7)
    with torch.no_grad():
        averaged = Segmenter(net, tta=True).probabilities(x)
        torch.testing.assert_close(averaged, torch.softmax(net(x), dim=1))
        assert averaged.shape == (2, 2, 5, 7)


def test_tta_makes_any_net_equivariant_and_keeps_the_image_size():
    torch.manual_seed(0)
    net = get_model("unet", width=2, depth=2).eval()                 # not equivariant: padding, pooling grid
    segmenter = Segmenter(net, tta=True).eval()
    x = torch.randn(1, 1, 12, 20)
    with torch.no_grad():
        out = segmenter(x)
        assert out.shape == (1, 2, 12, 20)
        for turns, flip in DIHEDRAL:
            torch.testing.assert_close(segmenter(dihedral(x, turns, flip)), dihedral(out, turns, flip))
        assert not torch.allclose(torch.softmax(net(x), 1), torch.softmax(out, 1), atol=1e-3)


def test_without_tta_or_threshold_the_segmenter_is_the_net():
    net = get_model("unet", width=2, depth=2).eval()
    x = torch.randn(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(Segmenter(net)(x), net(x))


def test_a_threshold_predicts_class_1_exactly_where_its_probability_exceeds_it():
    p1 = torch.tensor([[0.2, 0.35, 0.45], [0.55, 0.7, 0.9]]).view(1, 1, 2, 3)
    probs = torch.cat([1 - p1, p1], dim=1)
    for t in (0.3, 0.5, 0.6, 0.8):
        assert torch.equal(threshold_scores(probs, t).argmax(1), (p1[:, 0] > t).long())
    torch.testing.assert_close(torch.softmax(threshold_scores(probs, 0.5), 1), probs)   # 0.5: the probabilities
    with pytest.raises(LayerlabError, match="strictly between 0 and 1"):
        Segmenter(nn.Conv2d(1, 2, 1), threshold=1.0)
    with pytest.raises(LayerlabError, match="two classes"):
        threshold_scores(torch.full((1, 3, 2, 2), 1 / 3), 0.4)


def test_the_threshold_is_chosen_where_the_validation_cells_are_cut_right():
    # a vertical membrane (column 3) between two cells, one pixel of it at membrane probability 0.4:
    # cut at 0.5 that pixel is "cell" and joins the two cells; cut at 0.35 or lower the membrane is whole
    net = nn.Conv2d(1, 2, kernel_size=1, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([0.0, 1.0]).view(2, 1, 1, 1))   # the input is the membrane logit
    logits = torch.full((1, 1, 6, 7), -5.0)
    logits[..., 3] = 5.0
    logits[0, 0, 2, 3] = torch.logit(torch.tensor(0.4))
    truth = torch.zeros(1, 6, 7, dtype=torch.long)
    truth[..., 3] = 1
    best, scores = choose_threshold(Segmenter(net).eval(), logits, truth, (0.3, 0.35, 0.5, 0.7))
    assert best == 0.3 and scores[0.3] == scores[0.35] == pytest.approx(1.0)      # equal best: the first
    # merged: pairs in one true cell 2·(18² - 18) = 612 each way, in the one predicted segment 36² - 36 = 1260;
    # F = 2·612 / (612 + 1260)
    assert scores[0.5] == scores[0.7] == pytest.approx(2 * 612 / (612 + 1260))
