"""The generated `shapes` segmentation set: the same seed gives the same images, masks are exact
(a lone square covers side² pixels), every class is present, and the masks sit on the painted shapes."""

from __future__ import annotations

import math

import pytest
import torch

from layerlab.data import get_dataset
from layerlab.data.synthetic import SHAPE_CLASSES, draw_shapes_image, shape_mask
from layerlab.errors import LayerlabError


def test_the_same_seed_gives_the_same_images_and_other_seeds_or_splits_do_not():
    a = get_dataset("shapes", split="train", size=32, count=6, seed=3)
    b = get_dataset("shapes", split="train", size=32, count=6, seed=3)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert a.inputs.dtype == torch.uint8 and a.inputs.shape == (6, 3, 32, 32) and a.targets.shape == (6, 32, 32)
    assert not torch.equal(a.inputs, get_dataset("shapes", split="train", size=32, count=6, seed=4).inputs)
    assert not torch.equal(a.inputs, get_dataset("shapes", split="test", size=32, count=6, seed=3).inputs)
    # asking for more images only appends: the first six are the same draws
    assert torch.equal(get_dataset("shapes", split="train", size=32, count=9, seed=3).inputs[:6], a.inputs)
    assert a.classes == SHAPE_CLASSES == ("background", "circle", "square", "triangle")


@pytest.mark.parametrize("extent,side", [(10.0, 10), (7.4, 7), (12.6, 13)])
def test_a_lone_square_covers_side_squared_pixels(extent, side):
    mask = shape_mask("square", 40, (20.3, 17.8), extent)
    rows, cols = mask.nonzero().unbind(1)
    assert int(mask.sum()) == side * side
    assert int(rows.max() - rows.min()) + 1 == side == int(cols.max() - cols.min()) + 1     # one filled block


def test_a_circle_is_the_pixel_centres_within_its_radius():
    mask = shape_mask("circle", 32, (16.0, 15.5), 20.0)
    by_hand = sum((i + 0.5 - 16.0) ** 2 + (j + 0.5 - 15.5) ** 2 <= 100 for i in range(32) for j in range(32))
    assert int(mask.sum()) == by_hand == 312
    assert abs(by_hand - math.pi * 100) < 2 * math.pi * 10 * 0.5                 # area ± half the perimeter


def test_a_triangle_has_the_area_of_an_equilateral_triangle():
    mask = shape_mask("triangle", 64, (32.0, 32.0), 30.0, angle=0.4)            # circumradius 0.7·30 = 21
    area, perimeter = 3 * math.sqrt(3) / 4 * 21**2, 3 * math.sqrt(3) * 21
    assert abs(int(mask.sum()) - area) < perimeter / 2
    assert not bool(mask[0].any()) and bool(mask[32, 32])
    with pytest.raises(LayerlabError, match="shape kind must be one of circle, square, triangle"):
        shape_mask("star", 8, (4, 4), 3)


def test_every_class_is_present_and_nothing_else():
    test = get_dataset("shapes", split="test", size=64, count=40)
    counts = torch.bincount(test.targets.flatten(), minlength=5)
    assert counts[4] == 0 and bool((counts[:4] > 0).all())
    shapes_per_image = [len(torch.unique(mask)) - 1 for mask in test.targets]   # kinds of shape in each image
    assert min(shapes_per_image) >= 1 and max(shapes_per_image) >= 2
    assert 0.6 < float(counts[0]) / test.targets.numel() < 0.95                # mostly background


def test_the_masks_sit_on_the_painted_shapes():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        image, mask = draw_shapes_image(48, g, min_shapes=1, max_shapes=1)
        inside, outside = image[:, mask > 0].float().mean(1), image[:, mask == 0].float().mean(1)
        # fill and background colours are drawn >= 0.35 apart (in [0, 1]^3); texture blurs that a little
        assert float((inside - outside).norm()) > 0.2 * 255


def test_bad_options_are_one_line_errors():
    with pytest.raises(LayerlabError, match="shapes needs size >= 8"):
        get_dataset("shapes", size=4)
    with pytest.raises(LayerlabError, match="shapes has splits train, val, test"):
        get_dataset("shapes", split="all")
