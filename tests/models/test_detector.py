"""The detector's pieces: the spatial pyramid's arithmetic, feature windows, R-CNN's warp."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from layerlab.errors import LayerlabError
from layerlab.models import get_model
from layerlab.models.detector import crop_boxes, feature_windows, pyramid_pool, warp_regions, whole_image_rois


@pytest.mark.parametrize("h, w", [(1, 1), (3, 7), (9, 6), (32, 32)])
def test_any_window_gives_21_times_channels_numbers(h, w):
    window = torch.randn(64, h, w)
    assert pyramid_pool(window, (4, 2, 1)).shape == (64 * 21,)
    assert pyramid_pool(window, (4,)).shape == (64 * 16,)


def test_pyramid_bins_are_the_maxima_of_floor_ceil_cells():
    window = torch.arange(6 * 5, dtype=torch.float32).reshape(1, 6, 5)   # increasing: a bin's max is its last cell
    vector = pyramid_pool(window, (2, 1))
    # 2x2 bins of a 6x5 window: rows [0, 3) and [3, 6), columns [0, 3) and [2, 5) (ceil(5/2) = 3, floor(5/2) = 2)
    expected = [window[0, 2, 2], window[0, 2, 4], window[0, 5, 2], window[0, 5, 4], window.max()]
    assert vector.tolist() == [float(v) for v in expected]


def test_feature_windows_cover_the_box_and_at_least_one_cell():
    rois = torch.tensor([[0.0, 0, 128, 128], [5, 9, 13, 10], [127, 127, 128, 128], [6, 6, 6.5, 6.5]])
    cells = feature_windows(rois, 4, 32, 32)
    assert cells.tolist() == [[0, 0, 32, 32], [1, 2, 4, 3], [31, 31, 32, 32], [1, 1, 2, 2]]


def test_warp_of_the_whole_image_is_a_resize_and_a_box_is_its_own_pixels():
    image = torch.rand(2, 16, 16)
    whole = warp_regions(image, torch.tensor([[0.0, 0, 16, 16]]), 16)
    torch.testing.assert_close(whole[0], image)                                         # same grid: the same pixels
    half = warp_regions(image, torch.tensor([[8.0, 0, 16, 8]]), 8)
    torch.testing.assert_close(half[0], image[:, 0:8, 8:16])                           # the top-right quarter
    down = warp_regions(image, torch.tensor([[0.0, 0, 16, 16]]), 8)
    torch.testing.assert_close(down[0], F.avg_pool2d(image[None], 2)[0])               # bilinear at pixel corners = 2x2 mean


def test_sppnet_region_vector_is_the_pyramid_of_the_region_window_of_one_feature_map():
    torch.manual_seed(0)
    model = get_model("sppnet").eval()
    images = torch.randn(2, 1, 128, 128)
    rois = torch.tensor([[0.0, 10, 20, 50, 60], [1, 0, 0, 128, 128], [1, 33, 40, 37, 90]])
    vectors = model.region_vectors(images, rois)
    fmap = model.features(images[1:2])[0]                                              # (64, 32, 32)
    torch.testing.assert_close(vectors[1], pyramid_pool(fmap, (4, 2, 1)))
    torch.testing.assert_close(vectors[2], pyramid_pool(fmap[:, 10:23, 8:10], (4, 2, 1)))   # x 33..37 -> cells 8..10


def test_rcnn_runs_the_cnn_on_the_warped_region():
    torch.manual_seed(0)
    model = get_model("rcnn").eval()
    images = torch.randn(1, 1, 128, 128)
    box = torch.tensor([[0.0, 16, 32, 48, 96]])
    crop = warp_regions(images[0], box[:, 1:], 32)                                     # (1, 1, 32, 32)
    torch.testing.assert_close(model.region_vectors(images, box)[0], pyramid_pool(model.features(crop)[0], (4, 2, 1)))
    assert whole_image_rois(images).tolist() == [[0.0, 0, 0, 128, 128]]


def test_context_and_square_crops_are_the_papers_arithmetic():
    one = torch.tensor([[10.0, 20, 18, 60]])                                          # a "1": 8 wide, 40 tall
    assert crop_boxes(one, 32).tolist() == one.tolist()                               # stretch, no context: the box
    # context 4 of 32: the box fills the middle 24 pixels, so the crop shows 32/24 of it, centred
    expected = torch.tensor([[14 - 4 * 32 / 24, 40 - 20 * 32 / 24, 14 + 4 * 32 / 24, 40 + 20 * 32 / 24]])
    torch.testing.assert_close(crop_boxes(one, 32, context=4), expected)
    assert crop_boxes(one, 32, warp="square").tolist() == [[-6.0, 20, 34, 60]]       # the tightest square around it
    torch.manual_seed(0)
    model = get_model("rcnn", context=4, warp="square").eval()
    images = torch.randn(1, 1, 128, 128)
    crop = warp_regions(images[0], crop_boxes(one, 32, context=4, warp="square"), 32)
    rois = torch.cat([torch.zeros(1, 1), one], 1)
    torch.testing.assert_close(model.region_vectors(images, rois)[0], pyramid_pool(model.features(crop)[0], (4, 2, 1)))
    with pytest.raises(LayerlabError, match="context must be 0 to 15 pixels of a 32-pixel crop, got 16"):
        crop_boxes(one, 32, context=16)
    with pytest.raises(LayerlabError, match="warp must be one of stretch, square"):
        crop_boxes(one, 32, warp="pad")


def test_unknown_method_is_a_one_line_error():
    with pytest.raises(LayerlabError, match="method must be one of rcnn, sppnet, fast-rcnn"):
        get_model("sppnet", method="yolo")
