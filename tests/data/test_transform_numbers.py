"""The numbers of the tensor transforms, worked out by hand: pixels to [0, 1], (x - mean) / std, and the
per-channel statistics a lab normalises with."""

from __future__ import annotations

import pytest
import torch

from layerlab.data.transforms import channel_stats, float_normalize, normalize, to_float
from layerlab.errors import LayerlabError

PIXELS = torch.tensor([[[[0, 51]], [[255, 102]]]], dtype=torch.uint8)     # (1, 2, 1, 2): two channels


def test_to_float_maps_0_255_to_0_1_and_leaves_floats_alone() -> None:
    assert to_float(PIXELS).flatten().tolist() == pytest.approx([0.0, 0.2, 1.0, 0.4], abs=1e-7)   # 51/255 = 0.2, not 51/256
    floats = torch.tensor([0.5, 300.0])
    assert to_float(floats).tolist() == [0.5, 300.0]


def test_normalize_and_float_normalize_agree_with_the_formula() -> None:
    mean, std = (0.5, 0.25), (0.5, 0.1)
    by_hand = torch.tensor([[[[(0 - 0.5) / 0.5, (0.2 - 0.5) / 0.5]], [[(1 - 0.25) / 0.1, (0.4 - 0.25) / 0.1]]]])
    torch.testing.assert_close(normalize(to_float(PIXELS), mean, std), by_hand)
    run = float_normalize(mean, std)
    torch.testing.assert_close(run(PIXELS, torch.zeros(1), torch.Generator())[0], by_hand)
    floats = to_float(PIXELS)                                  # float inputs are already in [0, 1]: not / 255 again
    torch.testing.assert_close(run(floats, torch.zeros(1), torch.Generator())[0], by_hand)
    assert torch.equal(floats, to_float(PIXELS))               # and are never written into
    torch.testing.assert_close(run(PIXELS, torch.zeros(1), torch.Generator())[0], by_hand)   # the cached constants
    only_floats = float_normalize(mean, None)                  # without both statistics: floats only
    assert torch.equal(only_floats(PIXELS, torch.zeros(1), torch.Generator())[0], to_float(PIXELS))
    assert torch.equal(float_normalize(None, std)(PIXELS, torch.zeros(1), torch.Generator())[0], to_float(PIXELS))


def test_channel_stats_of_uint8_and_float_images_by_hand() -> None:
    images = torch.tensor([[[[0, 255]], [[51, 51]]], [[[255, 255]], [[102, 0]]]], dtype=torch.uint8)   # (2, 2, 1, 2)
    # channel 0: 0, 1, 1, 1 -> mean 0.75, std sqrt(0.75 * 0.25); channel 1: 0.2, 0.2, 0.4, 0 -> mean 0.2, std sqrt(0.02)
    expected_mean, expected_std = (0.75, 0.2), ((0.75 * 0.25) ** 0.5, 0.02**0.5)
    for data, chunk in ((images, 1), (images, 2048), (to_float(images).double(), 1)):
        mean, std = channel_stats(data, chunk=chunk)
        assert mean == pytest.approx(expected_mean) and std == pytest.approx(expected_std)
    with pytest.raises(LayerlabError, match=r"needs a non-empty \(N, C, \.\.\.\) batch, got shape \(3,\)"):
        channel_stats(torch.zeros(3))
    assert channel_stats(torch.tensor([[1.0, 3.0], [3.0, 5.0]])) == (pytest.approx((2.0, 4.0)), pytest.approx((1.0, 1.0)))   # (N, C) rows
