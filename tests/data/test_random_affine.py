"""random_affine: each part of the map (shift, stretch, slant, turn) moves pixels where its arithmetic
says, the draws come from the loader's generator in a fixed order, and the layout and dtype are kept."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from layerlab.data.transforms import _warp, affine_theta, random_affine
from layerlab.errors import LayerlabError


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _moved(image: torch.Tensor, *, angle: float = 0.0, shear: float = 0.0, x_scale: float = 1.0,
           shift: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
    """One (1, C, H, W) image through one affine map, as random_affine resamples it."""
    h, w = image.shape[-2:]
    theta = affine_theta(torch.tensor([angle]), torch.tensor([shear]), torch.tensor([x_scale]), torch.tensor([shift]), (h, w))
    return _warp(image, F.affine_grid(theta, [1, 1, h, w], align_corners=False), "bilinear")


def _dot(h: int, w: int, row: int, col: int) -> torch.Tensor:
    image = torch.zeros(1, 1, h, w, dtype=torch.uint8)
    image[0, 0, row, col] = 200
    return image


def test_a_whole_pixel_shift_moves_the_content_right_and_down_exactly() -> None:
    image = torch.arange(1, 1 + 9 * 12, dtype=torch.uint8).view(1, 1, 9, 12)
    out = _moved(image, shift=(3.0, 2.0))  # dx = 3 to the right, dy = 2 down
    assert torch.equal(out[..., 2:, 3:], image[..., :-2, :-3])  # every pixel that came from inside the image
    assert torch.equal(out[..., 2:, 2], image[..., :-2, 0])  # the mirrored border: the edge column repeated


def test_a_stretch_moves_a_column_away_from_the_centre_by_the_factor() -> None:
    # 17 px wide: the centre is column 8; column 12 (4 px right of it) goes to 8 + 1.5 * 4 = 14
    out = _moved(_dot(5, 17, 2, 12), x_scale=1.5)
    assert out[0, 0, 2, 14] == 200 and out[0, 0, 2].argmax() == 14
    centre = _moved(_dot(5, 17, 2, 8), x_scale=1.5)[0, 0, 2]
    assert centre[8] == 200 and centre.argmax() == 8  # the centre stays (its neighbours read a third of it: 67)
    assert centre[7] == centre[9] == round(200 / 3)


def test_a_slant_of_45_degrees_moves_each_row_sideways_by_its_distance_from_the_centre() -> None:
    # 9 rows: the centre row is 4; row 6 (2 px below it) moves 2 px right, row 2 (above) 2 px left
    assert torch.equal(_moved(_dot(9, 11, 6, 5), shear=45.0), _dot(9, 11, 6, 7))
    assert torch.equal(_moved(_dot(9, 11, 2, 5), shear=45.0), _dot(9, 11, 2, 3))


def test_a_quarter_turn_is_clockwise_on_screen_and_matches_rot90() -> None:
    image = torch.arange(1, 1 + 36, dtype=torch.uint8).view(1, 1, 6, 6) * 7
    assert torch.equal(_moved(image, angle=90.0), image.rot90(-1, dims=(-2, -1)))  # rot90(-1): clockwise
    assert torch.equal(_moved(image, angle=-90.0), image.rot90(1, dims=(-2, -1)))


def test_the_draws_are_five_uniforms_per_image_from_the_generator_in_a_fixed_order() -> None:
    images = torch.randint(0, 256, (3, 1, 10, 30), dtype=torch.uint8, generator=_gen(9))
    out, _ = random_affine(degrees=4.0, shift=(6.0, 3.0), x_scale=(0.9, 1.1), shear=10.0)(images, None, _gen(1))
    draws = torch.rand(3, 5, generator=_gen(1)) * 2 - 1  # angle, shear, stretch, dx, dy in [-1, 1)
    for i in range(3):
        a, s, k, dx, dy = draws[i].tolist()
        expected = _moved(images[i : i + 1], angle=4.0 * a, shear=10.0 * s, x_scale=0.9 + 0.2 * (k + 1) / 2,
                          shift=(6.0 * dx, 3.0 * dy))
        assert torch.equal(out[i : i + 1], expected)


def test_the_same_seed_repeats_the_moves_and_another_seed_changes_them() -> None:
    images = torch.randint(0, 256, (4, 1, 12, 40), dtype=torch.uint8, generator=_gen(3))
    move = random_affine(degrees=3.0, shift=(4.0, 2.0))
    first, second, other = (move(images, None, _gen(s))[0] for s in (5, 5, 6))
    assert torch.equal(first, second) and not torch.equal(first, other)
    assert first.dtype == torch.uint8 and first.shape == images.shape


def test_no_move_at_all_is_the_identity_and_keeps_channels_last() -> None:
    images = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8, generator=_gen(4))
    nhwc = images.contiguous(memory_format=torch.channels_last)
    out, _ = random_affine()(nhwc, None, _gen())
    assert torch.equal(out, images) and out.is_contiguous(memory_format=torch.channels_last)


def test_a_mask_moves_with_its_image_and_keeps_its_labels() -> None:
    image = torch.zeros(2, 1, 9, 12, dtype=torch.uint8)
    image[:, :, 3:6, 4:8] = 200
    mask = (image[:, 0] > 0).long() * 3  # (B, H, W) labels 0 and 3
    out, moved = random_affine(degrees=20.0, shift=(2.0, 1.0), targets="mask")(image, mask, _gen(2))
    assert moved.shape == mask.shape and set(moved.unique().tolist()) <= {0, 3}
    for i in range(2):  # the label's centre sits where the bright block's went (within half a pixel)
        rows, cols = (moved[i] == 3).nonzero(as_tuple=True)
        weights = out[i, 0].double()
        y = (weights.sum(1) * torch.arange(9.0, dtype=torch.float64)).sum() / weights.sum()
        x = (weights.sum(0) * torch.arange(12.0, dtype=torch.float64)).sum() / weights.sum()
        assert abs(rows.double().mean() - y) < 0.5 and abs(cols.double().mean() - x) < 0.5
    assert not torch.equal(moved, mask)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"degrees": -1.0}, "must be >= 0"),
    ({"shift": (2.0, float("nan"))}, "must be >= 0"),
    ({"x_scale": (1.1, 0.9)}, "0 < low <= high"),
    ({"x_scale": (0.0, 1.0)}, "0 < low <= high"),
    ({"targets": "boxes"}, "cannot move boxes"),
    ({"targets": "points"}, "targets must be one of"),
])
def test_bad_arguments_are_one_line_errors(kwargs: dict, fragment: str) -> None:
    with pytest.raises(LayerlabError) as error:
        random_affine(**kwargs)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_a_batch_that_is_not_images_is_a_one_line_error() -> None:
    with pytest.raises(LayerlabError, match=r"random_affine needs a batch of images \(B, C, H, W\)"):
        random_affine(degrees=2.0)(torch.zeros(4, 10), None, _gen())
