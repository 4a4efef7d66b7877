"""What the transforms promise, pinned exactly: the draws each one takes from the loader's generator,
the device, dtype and layout it keeps, the edge values of its arguments, and its one-line errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from layerlab.data.transforms import (
    _elastic_grid,
    _warp,
    augment_pipeline,
    channel_stats,
    crop_boxes,
    eval_pipeline,
    flip_boxes,
    float_normalize,
    normalize,
    random_crop,
    random_elastic,
    random_hflip,
    random_patch,
    random_rot90,
    random_vflip,
    rot90_boxes,
    vflip_boxes,
)
from layerlab.errors import LayerlabError


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(n: int, c: int = 1, h: int = 6, w: int = 5, dtype: torch.dtype = torch.uint8) -> torch.Tensor:
    # every pixel a distinct nonzero value (1..250): it says where it came from, and 0 can only be padding
    return (torch.arange(n * c * h * w).remainder(250) + 1).reshape(n, c, h, w).to(dtype)


# --- the draws: each transform's output is what its draws from the generator say ------------------


def test_the_training_pipeline_crops_at_the_drawn_corners_flips_by_the_drawn_coins_then_normalises() -> None:
    images, mean, std = _images(6, c=2, h=5, w=5), (0.5, 0.5), (0.25, 0.25)
    out, _ = augment_pipeline(mean, std, crop_padding=1)(images, torch.zeros(6), _gen(3))
    g = _gen(3)
    corners = torch.randint(0, 3, (2, 6), generator=g)  # (top, left) of each 5x5 window of the 7x7 padded image
    coins = torch.rand(6, generator=g) < 0.5  # then one coin per image
    padded = F.pad(images, (1, 1, 1, 1))  # zeros around
    for i in range(6):
        top, left = corners[:, i].tolist()
        window = padded[i, :, top : top + 5, left : left + 5].float() / 255
        torch.testing.assert_close(out[i], ((window.flip(-1) if coins[i] else window) - 0.5) / 0.25)
    assert coins.any() and not coins.all() and len(set(corners.flatten().tolist())) == 3  # all cases occur
    assert out.is_contiguous()  # NCHW unless channels_last is asked for
    # crop_padding=0 draws no corners: the coins are the generator's first draws
    unpadded, _ = augment_pipeline(mean, std, crop_padding=0)(images, torch.zeros(6), _gen(3))
    first = torch.rand(6, generator=_gen(3)) < 0.5
    assert not torch.equal(first, coins)  # so a stray crop's draws would show
    for i in range(6):
        window = images[i].float() / 255
        torch.testing.assert_close(unpadded[i], ((window.flip(-1) if first[i] else window) - 0.5) / 0.25)
    assert eval_pipeline(mean, std)(images, None, _gen())[0].is_contiguous()


def test_random_crop_pads_by_4_pixels_unless_told_otherwise() -> None:
    images = _images(8, h=3, w=3)
    out, _ = random_crop()(images, None, _gen(6))
    corners = torch.randint(0, 9, (2, 8), generator=_gen(6))  # 0..8: each window of the 11x11 padded image
    padded = F.pad(images, (4, 4, 4, 4))
    assert torch.equal(out, torch.stack([padded[i, :, t : t + 3, l : l + 3] for i, (t, l) in enumerate(corners.T.tolist())]))


def test_random_patch_cuts_each_image_and_its_target_at_the_drawn_corners() -> None:
    images = _images(12, c=2, h=7, w=6)
    target = images.long() * 2  # an image target: cut the same way
    out, moved = random_patch(3, targets="image")(images, target, _gen(4))
    g = _gen(4)
    tops = torch.randint(0, 7 - 3 + 1, (12,), generator=g).tolist()  # 0..4
    lefts = torch.randint(0, 6 - 3 + 1, (12,), generator=g).tolist()  # 0..3
    assert {min(tops), max(tops), min(lefts), max(lefts)} == {0, 4, 3}  # the extreme corners are drawn
    for i, (top, left) in enumerate(zip(tops, lefts)):
        assert torch.equal(out[i], images[i, :, top : top + 3, left : left + 3])
        assert torch.equal(moved[i], target[i, :, top : top + 3, left : left + 3])


def test_random_patch_takes_sizes_from_one_pixel_to_the_shorter_side() -> None:
    images = _images(5, h=4, w=6)
    whole, _ = random_patch(4)(images, None, _gen(1))  # as high as the images: only the left edge is drawn
    g = _gen(1)
    torch.randint(0, 1, (5,), generator=g)  # the tops: all 0
    lefts = torch.randint(0, 3, (5,), generator=g).tolist()
    assert torch.equal(whole, torch.stack([images[i, :, :, left : left + 4] for i, left in enumerate(lefts)]))
    pixels, _ = random_patch(1)(images, None, _gen(2))
    g = _gen(2)
    tops, lefts = torch.randint(0, 4, (5,), generator=g).tolist(), torch.randint(0, 6, (5,), generator=g).tolist()
    assert pixels.flatten().tolist() == [images[i, 0, t, l].item() for i, (t, l) in enumerate(zip(tops, lefts))]


def test_rot90_turns_each_image_by_its_own_drawn_count() -> None:
    images = _images(3, h=4, w=4)
    out, _ = random_rot90()(images, None, _gen(0))
    turns = torch.randint(0, 4, (3,), generator=_gen(0)).tolist()
    assert len(set(turns)) == 3  # each count drawn once: no image shares its turn with another
    for i, k in enumerate(turns):
        assert torch.equal(out[i], torch.rot90(images[i], k, dims=(-2, -1)))


def test_the_default_elastic_warp_draws_coins_then_2_x_3_x_3_displacements_of_sigma_10_per_image() -> None:
    images = _images(3, h=8, w=8, dtype=torch.float64) / 7
    out, _ = random_elastic()(images, None, _gen(5))
    g = _gen(5)
    torch.rand(3, generator=g)  # one coin per image; p = 1 warps all of them
    coarse = torch.randn(3, 2, 3, 3, generator=g) * 10.0  # (B, 2, G, G) dx, dy in pixels
    torch.testing.assert_close(out, _warp(images, _elastic_grid(coarse, (8, 8)), "bicubic"), rtol=0, atol=0)


# --- the elastic warp's geometry and number types ------------------------------------------------


def test_the_elastic_field_moves_pixels_by_the_control_points_with_the_outer_ones_on_the_image_edges() -> None:
    coarse = torch.zeros(1, 2, 2, 2)  # a 2x2 grid: the control points sit on the four corners
    coarse[0, 0] = torch.tensor([[1.0, 3.0], [1.0, 3.0]])  # dx: 1 pixel on the left edge, 3 on the right
    coarse[0, 1] = torch.tensor([[-2.0, -2.0], [4.0, 4.0]])  # dy: -2 on the top edge, 4 on the bottom
    grid = _elastic_grid(coarse, (4, 8))  # (1, H, W, 2) in grid_sample's units: pixel x sits at (2x + 1) / W - 1
    x, y = (grid[0, ..., 0] + 1) * 8 / 2 - 0.5, (grid[0, ..., 1] + 1) * 4 / 2 - 0.5  # back to pixels
    dx, dy = x - torch.arange(8.0), y - torch.arange(4.0)[:, None]  # output pixel (i, j) reads (j + dx, i + dy)
    torch.testing.assert_close(dx[:, 0], torch.full((4,), 1.0)) and torch.testing.assert_close(dx[:, 7], torch.full((4,), 3.0))
    torch.testing.assert_close(dy[0], torch.full((8,), -2.0)) and torch.testing.assert_close(dy[3], torch.full((8,), 4.0))


def test_uint8_images_are_warped_as_floats_then_rounded_and_clamped_to_0_255() -> None:
    images = torch.zeros(4, 1, 16, 16, dtype=torch.uint8)
    images[..., 8:] = 255  # a hard edge: bicubic overshoots on both sides of it
    out, _ = random_elastic(sigma=3.0)(images, None, _gen(2))
    as_float, _ = random_elastic(sigma=3.0)(images.float(), None, _gen(2))
    assert as_float.max() > 255.5 and as_float.min() < -0.5  # the overshoot the clamp is for
    assert torch.equal(out, as_float.round().clamp(0, 255).to(torch.uint8))


def test_a_float64_batch_is_warped_in_float64() -> None:
    images = _images(2, h=16, w=16, dtype=torch.float64) / 7  # values float32 cannot hold
    out, _ = random_elastic(sigma=0.0)(images, None, _gen())
    assert out.dtype == torch.float64 and torch.equal(out, images)  # pixel centres are exact: the identity


def test_the_warps_raise_no_warnings() -> None:
    images, mask = _images(2, h=8, w=8), _images(2, h=8, w=8)[:, 0].long()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # grid_sample warns when align_corners is left to its default
        random_elastic(targets="mask")(images, mask, _gen())


def test_the_elastic_grid_takes_two_control_points_a_side_and_no_fewer() -> None:
    images = _images(2, h=8, w=8, dtype=torch.float32)
    out, _ = random_elastic(grid=2, sigma=2.0)(images, None, _gen(1))
    assert out.shape == images.shape and not torch.equal(out, images)
    with pytest.raises(LayerlabError, match=r"^random_elastic grid must be >= 2 control points a side, got 1$"):
        random_elastic(grid=1)


# --- devices, dtypes and layouts -----------------------------------------------------------------


def test_every_transform_keeps_the_batch_on_its_device() -> None:
    images = torch.zeros(4, 2, 8, 8, dtype=torch.uint8, device="meta")  # the meta device: a real device, no GPU
    mask = torch.zeros(4, 8, 8, dtype=torch.long, device="meta")
    moves = {"random_crop": random_crop(2, targets="mask"), "reflect": random_crop(2, "reflect", targets="mask"),
             "random_hflip": random_hflip(targets="mask"), "random_vflip": random_vflip(targets="mask"),
             "random_rot90": random_rot90(targets="mask"), "random_elastic": random_elastic(targets="mask"),
             "random_patch": random_patch(4, targets="mask")}
    for name, transform in moves.items():
        out, moved = transform(images, mask, _gen())
        assert (out.device.type, moved.device.type) == ("meta", "meta"), name
    floats = torch.zeros(4, 2, 8, 8, device="meta")
    assert float_normalize((0.5, 0.5), (0.2, 0.2))(floats, None, _gen())[0].device.type == "meta"
    assert normalize(floats, (0.5, 0.5), (0.2, 0.2)).device.type == "meta"


def test_a_crop_keeps_a_plain_batch_contiguous() -> None:
    out, _ = random_crop(1)(_images(4, c=3), None, _gen())
    assert out.is_contiguous() and not out.is_contiguous(memory_format=torch.channels_last)


def test_normalisation_keeps_float64_inputs_exact_and_gives_float32_from_any_statistics() -> None:
    x = _images(2, c=2, h=2, w=2, dtype=torch.float64) / 255
    by_hand = (x - torch.tensor([0.1, 0.2], dtype=torch.float64).view(1, 2, 1, 1)) / torch.tensor([0.3, 0.7], dtype=torch.float64).view(1, 2, 1, 1)
    assert torch.equal(normalize(x, (0.1, 0.2), (0.3, 0.7)), by_hand)  # statistics in the inputs' float64
    mean, std = np.array([0.5, 0.25]), np.array([0.5, 0.1])  # float64 statistics from NumPy
    for pixels in (_images(2, c=2), _images(2, c=2, dtype=torch.float32) / 255):
        assert float_normalize(mean, std)(pixels, None, _gen())[0].dtype == torch.float32


def test_channel_stats_sums_in_float64_whatever_the_input_type() -> None:
    # float32 holds 2**24 but not 2**24 + 1: a float32 sum of these two loses the 1
    mean, std = channel_stats(torch.tensor([2.0**24, 1.0]).view(2, 1, 1, 1))
    assert mean == ((2**24 + 1) / 2,) and std == ((2**24 - 1) / 2,)
    # 4097 and 4095: mean 4096, std 1; their squares sum to 2**25 + 2, which float32 rounds to 2**25 (std 0)
    mean, std = channel_stats(torch.tensor([4097.0, 4095.0], dtype=torch.float64).view(2, 1, 1))
    assert mean == (4096.0,) and std == (1.0,)


# --- boxes ---------------------------------------------------------------------------------------


def test_a_crop_drops_a_box_left_with_width_but_no_height() -> None:
    target = {"boxes": torch.tensor([[1.0, 0.0, 4.0, 2.0], [1.0, 2.0, 4.0, 5.0]]), "labels": torch.tensor([5, 6])}
    out = crop_boxes(target, left=0, top=2, size=(8, 8))  # the window starts 2 rows down: box 5 lies above it
    assert out["boxes"].tolist() == [[1.0, 0.0, 4.0, 3.0]] and out["labels"].tolist() == [6]


def test_box_helpers_take_boxes_of_any_leading_shape() -> None:
    boxes = torch.tensor([[[1.0, 2.0, 3.0, 5.0]], [[0.0, 0.0, 2.0, 1.0]]])  # (2, 1, 4): two images' boxes stacked
    for move in (lambda b: flip_boxes(b, 8), lambda b: vflip_boxes(b, 8), lambda b: rot90_boxes(b, 8, 1)):
        assert torch.equal(move(boxes), torch.stack([move(b) for b in boxes]))
    assert flip_boxes(boxes, 8)[0].tolist() == [[5.0, 2.0, 7.0, 5.0]] and vflip_boxes(boxes, 8)[1].tolist() == [[0.0, 7.0, 2.0, 8.0]]


def test_rot90_boxes_count_turns_like_torch_rot90() -> None:
    image = torch.zeros(8, 8)
    image[1:3, 2:7] = 1  # an object at rows 1-2, cols 2-6: the box [2, 1, 7, 3]
    for k in (-1, 5, 6):  # -1 is a clockwise turn; 5 is one turn more than a full circle
        rows, cols = torch.rot90(image, k).nonzero(as_tuple=True)
        where = [cols.min().item(), rows.min().item(), cols.max().item() + 1, rows.max().item() + 1]
        assert rot90_boxes(torch.tensor([[2.0, 1.0, 7.0, 3.0]]), 8, k).tolist() == [[float(v) for v in where]], k


# --- edge values and one-line errors -------------------------------------------------------------


def test_a_uint8_mask_takes_any_ignore_index_from_0_to_255() -> None:
    images = _images(6, h=4, w=4)
    mask = images[:, 0].clone()  # uint8 labels
    for fill in (0, 255):
        out, moved = random_crop(2, targets="mask", ignore_index=fill)(images, mask, _gen(1))
        padding = out[:, 0] == 0
        assert padding.any() and set(moved[padding].tolist()) == {fill}
    for fill in (-1, 256):
        with pytest.raises(LayerlabError, match=rf"^ignore_index {fill} does not fit a uint8 mask; use 0..255 or a long mask$"):
            random_crop(2, targets="mask", ignore_index=fill)(images, mask, _gen())


def test_reflect_padding_must_be_smaller_than_the_image() -> None:
    images = _images(2, h=4, w=5)
    assert random_crop(3, "reflect")(images, None, _gen())[0].shape == images.shape
    with pytest.raises(LayerlabError, match=r"^reflect padding 4 needs images larger than 4, got 4x5$"):
        random_crop(4, "reflect")(images, None, _gen())


def test_mask_shapes_are_checked_by_crop_and_rot90() -> None:
    images = _images(2, h=4, w=4)
    with pytest.raises(LayerlabError, match=r"^a mask target must be \(B, H, W\) or \(B, 1, H, W\) matching images \(2, 1, 4, 4\), got \(2, 1, 1, 4, 4\)$"):
        random_crop(1, targets="mask")(images, torch.zeros(2, 1, 1, 4, 4, dtype=torch.long), _gen())
    with pytest.raises(LayerlabError, match=r"matching images \(2, 1, 4, 4\), got \(2, 3, 3\)$"):
        random_rot90(targets="mask")(images, torch.zeros(2, 3, 3, dtype=torch.long), _gen())


def test_random_patch_and_elastic_errors_name_the_transform() -> None:
    images = _images(2, h=4, w=6)
    with pytest.raises(LayerlabError, match=r"^random_patch size must be >= 1 pixel, got 0$"):
        random_patch(0)
    with pytest.raises(LayerlabError, match=r"^random_patch of 5x5 needs images at least that large, got 4x6$"):
        random_patch(5)(images, None, _gen())
    with pytest.raises(LayerlabError, match=r"^random_patch does not move boxes; use random_crop for detection$"):
        random_patch(2, targets="boxes")
    with pytest.raises(LayerlabError, match=r"^random_patch targets must be one of class, mask, image, boxes; got 'box'$"):
        random_patch(2, targets="box")
    for name, transform in (("random_patch", random_patch(2)), ("random_elastic", random_elastic())):
        with pytest.raises(LayerlabError, match=rf"^{name} needs a batch of images \(B, C, H, W\), got \(2, 4, 6\)$"):
            transform(images[:, 0], None, _gen())
    with pytest.raises(LayerlabError, match=r"^random_rot90 needs a batch of images \(B, C, H, W\), got tuple$"):
        random_rot90()((images,), None, _gen())
