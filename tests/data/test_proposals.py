"""Region proposals: windows, integral-image sums, objectness and recall on drawn images."""

from __future__ import annotations

import pytest
import torch

from layerlab.data.proposals import box_sums, integral, objectness, propose, proposal_recall, saliency, sliding_windows
from layerlab.errors import LayerlabError


def test_integral_box_sums_equal_direct_sums():
    values = torch.rand(9, 11, dtype=torch.float64)
    boxes = torch.tensor([[0, 0, 11, 9], [2, 3, 5, 7], [4, 4, 5, 5]])
    direct = torch.stack([values[y1:y2, x1:x2].sum() for x1, y1, x2, y2 in boxes.tolist()])
    torch.testing.assert_close(box_sums(integral(values), boxes), direct)


def test_windows_have_the_asked_sides_and_stay_inside():
    windows = sliding_windows(32, 40, sizes=[8, 16], ratios=[1.0, 4.0])
    sides = set(map(tuple, (windows[:, 2:] - windows[:, :2]).tolist()))
    assert sides == {(8, 8), (16, 16), (16, 4), (32, 8)}                 # ratio 4: w = 2s, h = s/2
    assert windows[:, :2].min() >= 0 and windows[:, 2].max() <= 40 and windows[:, 3].max() <= 32
    # steps of a quarter side: an 8x8 window at x = 0, 2, 4, ..., 32
    assert sorted(set(windows[(windows[:, 2] - windows[:, 0]) == 8][:, 0].tolist())) == list(range(0, 33, 2))
    with pytest.raises(LayerlabError, match="no window"):
        sliding_windows(10, 10, sizes=[50], ratios=[1.0])


def test_the_window_framing_an_object_scores_above_cut_and_loose_ones():
    image = torch.zeros(1, 40, 40, dtype=torch.uint8)
    image[0, 10:20, 12:20] = 255
    table = integral(saliency(image).double())
    windows = torch.tensor([[12, 10, 20, 20], [12, 10, 16, 20], [4, 2, 28, 28]])   # tight, cut in half, loose
    scores = objectness(table, windows, 40, 40)
    assert scores[0] > scores[1] and scores[0] > scores[2]
    assert scores[0] == pytest.approx(1.0)                                # holds everything, density 1


def test_light_background_saliency_finds_dark_cells_on_a_bright_slide():
    image = torch.full((3, 20, 20), 230, dtype=torch.uint8)
    image[:, 2:18, 2:18] = 120                                           # a "cell" larger than half the picture
    assert saliency(image, "median")[8, 8] == 0                           # the median is the cell itself
    assert saliency(image, "light")[8, 8] == pytest.approx(110 / 255) and saliency(image, "light")[19, 19] == 0


def test_proposals_find_drawn_objects_and_recall_counts_them():
    image = torch.zeros(1, 64, 64, dtype=torch.uint8)
    truths = torch.tensor([[8.0, 8, 24, 24], [35, 35, 55, 55]])     # on the grid of 16- and 20-pixel windows
    for x1, y1, x2, y2 in truths.int().tolist():
        image[0, y1:y2, x1:x2] = 200
    boxes, scores = propose(image, sizes=[12, 16, 20, 24], ratios=(0.5, 1.0, 1.5), top_k=10)
    assert len(boxes) == 10 and bool((scores[:-1] >= scores[1:]).all())
    assert sorted(boxes[:2].tolist()) == truths.tolist() and scores[1] == pytest.approx((200 / 255) ** 0.5)   # the two best frame them
    assert proposal_recall([boxes[:2]], [truths], 0.99) == 1.0 and proposal_recall([boxes[:1]], [truths]) == 0.5
    assert proposal_recall([boxes[:0]], [truths]) == 0.0
