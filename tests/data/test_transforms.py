"""Batch augmentation and statistics, checked on small hand-made tensors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from layerlab.data.tensors import TensorData
from layerlab.data.transforms import (
    augment_pipeline,
    channel_stats,
    compose,
    crop_boxes,
    flip_boxes,
    eval_pipeline,
    float_normalize,
    normalize,
    random_crop,
    random_elastic,
    random_hflip,
    random_rot90,
    random_vflip,
    rot90_boxes,
    vflip_boxes,
)
from layerlab.errors import LayerlabError


def _images(n: int = 8, c: int = 3, h: int = 6, w: int = 5, dtype: torch.dtype = torch.uint8) -> torch.Tensor:
    # distinct, nonzero values: every pixel says where it came from, and 0 can only mean padding
    values = torch.arange(1, n * c * h * w + 1).remainder(250) + 1
    return values.reshape(n, c, h, w).to(dtype)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- random_crop ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_crop_with_padding_zero_is_the_identity(dtype):
    x = _images(dtype=dtype)
    out, targets = random_crop(0)(x, torch.arange(8), _gen())
    assert out.dtype == dtype
    torch.testing.assert_close(out, x, rtol=0, atol=0)
    assert targets.tolist() == list(range(8))


@pytest.mark.parametrize("mode", ["constant", "reflect"])
def test_every_crop_is_a_window_of_the_padded_image(mode):
    x = _images(n=16)
    padding = 2
    out, _ = random_crop(padding, mode)(x, torch.zeros(16), _gen(3))
    padded = F.pad(x.float(), (padding,) * 4, mode=mode).to(torch.uint8)  # torch's own padding as reference
    h, w = x.shape[2:]
    corners = set()
    for i in range(16):
        matches = [
            (dy, dx)
            for dy in range(2 * padding + 1)
            for dx in range(2 * padding + 1)
            if torch.equal(out[i], padded[i, :, dy : dy + h, dx : dx + w])
        ]
        assert matches, f"image {i} is not a crop of its padded image"
        corners.add(matches[0])
    assert len(corners) > 3  # the offsets really vary from image to image


def test_crop_offsets_cover_every_position_of_the_padded_image():
    x = torch.ones(400, 1, 3, 3, dtype=torch.uint8)
    out, _ = random_crop(1)(x, torch.zeros(400), _gen(1))
    # with padding 1 a 3x3 window has 9 positions; each leaves a (3-|dy|) x (3-|dx|) block of ones
    ones = out.sum(dim=(1, 2, 3))
    counts = torch.bincount(ones, minlength=10)
    assert set(ones.tolist()) == {4, 6, 9}  # corner, edge and centre windows
    assert counts[9] == pytest.approx(400 / 9, abs=20) and counts[4] == pytest.approx(4 * 400 / 9, abs=40)


def test_same_seed_gives_the_same_batch_and_another_seed_does_not():
    x = _images(n=32)
    crop_flip = augment_pipeline((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    a, _ = crop_flip(x, torch.zeros(32), _gen(7))
    b, _ = crop_flip(x, torch.zeros(32), _gen(7))
    c, _ = crop_flip(x, torch.zeros(32), _gen(8))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)


def test_crop_keeps_channels_last_and_gives_the_same_values():
    x = _images(n=8)
    x_last = x.contiguous(memory_format=torch.channels_last)
    a, _ = random_crop(2)(x, torch.zeros(8), _gen(5))
    b, _ = random_crop(2)(x_last, torch.zeros(8), _gen(5))
    assert b.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_crop_rejects_bad_arguments():
    with pytest.raises(LayerlabError, match="mode"):
        random_crop(4, "edge")
    with pytest.raises(LayerlabError, match=">= 0"):
        random_crop(-1)
    with pytest.raises(LayerlabError, match="reflect padding 6"):
        random_crop(6, "reflect")(_images(), torch.zeros(8), _gen())


# --- random_hflip --------------------------------------------------------------------------------


def test_flip_with_p_one_mirrors_every_image_and_p_zero_none():
    x = _images(dtype=torch.float32)
    flipped, _ = random_hflip(1.0)(x, torch.zeros(8), _gen())
    kept, _ = random_hflip(0.0)(x, torch.zeros(8), _gen())
    torch.testing.assert_close(flipped, torch.flip(x, dims=[3]), rtol=0, atol=0)
    torch.testing.assert_close(kept, x, rtol=0, atol=0)


def test_flip_half_mirrors_a_random_subset_exactly():
    x = _images(n=200)
    out, _ = random_hflip(0.5)(x, torch.zeros(200), _gen(2))
    was_flipped = torch.tensor([torch.equal(out[i], torch.flip(x[i], dims=[2])) for i in range(200)])
    unchanged = torch.tensor([torch.equal(out[i], x[i]) for i in range(200)])
    assert (was_flipped ^ unchanged).all()  # each image is either mirrored or untouched
    assert 70 < was_flipped.sum() < 130  # about half (binomial(200, 0.5): 100 +- 7)


def test_vflip_with_p_one_turns_every_image_upside_down_and_twice_restores_it():
    x = _images(dtype=torch.float32)
    flipped, _ = random_vflip(1.0)(x, torch.zeros(8), _gen())
    torch.testing.assert_close(flipped, torch.flip(x, dims=[2]), rtol=0, atol=0)
    assert flipped[0, 0, 0].tolist() == x[0, 0, 5].tolist()  # the first row is the old last row (h = 6)
    images, mask = _images(n=40), _images(n=40)[:, 1].long()
    once = random_vflip(0.5, targets="mask")(images, mask, _gen(3))
    twice = random_vflip(0.5, targets="mask")(*once, _gen(3))  # the same coins: every flipped image flips back
    assert torch.equal(twice[0], images) and torch.equal(twice[1], mask)
    assert torch.equal(once[1], once[0][:, 1].long())  # the mask moved exactly like channel 1
    turned = sum(torch.equal(once[0][i], images[i].flip(1)) for i in range(40))
    assert 0 < turned < 40


def test_a_vflip_mirrors_box_y_coordinates_and_keeps_labels() -> None:
    images = torch.zeros(1, 3, 10, 4, dtype=torch.uint8)  # 10 pixels high
    boxes = [{"boxes": torch.tensor([[1.0, 2.0, 4.0, 6.0], [0.0, 0.0, 4.0, 10.0]]), "labels": torch.tensor([3, 7])}]
    _, (out,) = random_vflip(1.0, targets="boxes")(images, boxes, _gen())
    assert out["boxes"].tolist() == [[1.0, 4.0, 4.0, 8.0], [0.0, 0.0, 4.0, 10.0]]  # y1, y2 -> 10 - y2, 10 - y1
    assert out["labels"].tolist() == [3, 7]
    assert vflip_boxes(torch.tensor([[0.0, 2.5, 1.0, 3.5]]), 8).tolist() == [[0.0, 4.5, 1.0, 5.5]]


# --- random_rot90 --------------------------------------------------------------------------------


def test_rot90_turns_a_hand_made_mask_counter_clockwise_and_its_image_with_it():
    mask = torch.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9]]).expand(24, 3, 3)  # (B, H, W), the same for all
    images = torch.stack([mask * 10, mask * 20], dim=1).to(torch.uint8)  # (B, 2, H, W): channels 10x, 20x the mask
    out, turned = random_rot90(targets="mask")(images, mask, _gen(1))
    by_hand = {  # counter-clockwise: the right column becomes the top row
        0: [[1, 2, 3], [4, 5, 6], [7, 8, 9]],
        1: [[3, 6, 9], [2, 5, 8], [1, 4, 7]],
        2: [[9, 8, 7], [6, 5, 4], [3, 2, 1]],
        3: [[7, 4, 1], [8, 5, 2], [9, 6, 3]],
    }
    for k, grid in by_hand.items():
        assert torch.rot90(mask[0], k).tolist() == grid  # the same convention as torch.rot90
    seen = [next(k for k, grid in by_hand.items() if turned[i].tolist() == grid) for i in range(24)]
    assert set(seen) == {0, 1, 2, 3}  # every turn occurs
    assert torch.equal(out[:, 0], (turned * 10).to(torch.uint8)) and torch.equal(out[:, 1], (turned * 20).to(torch.uint8))


def test_rot90_four_times_is_the_identity_for_images_masks_and_boxes():
    images = _images(n=12, h=5, w=5)
    mask = images[:, 2].long()[:, None]  # (B, 1, H, W)
    boxes = [{"boxes": torch.tensor([[0.5, 1.0, 2.0, 4.5]]) + i / 10, "labels": torch.tensor([i])} for i in range(12)]
    for kind, target in (("mask", mask), ("image", images.float()), ("boxes", boxes)):
        rot = random_rot90(targets=kind)
        once = rot(images, target, _gen(2))
        batch = once
        for _ in range(3):  # the same draws each time: image i turns by 4 * k_i quarter turns in all
            batch = rot(*batch, _gen(2))
        assert torch.equal(batch[0], images) and not torch.equal(once[0], images)
        if kind == "boxes":
            torch.testing.assert_close([t["boxes"] for t in batch[1]], [t["boxes"] for t in boxes], rtol=0, atol=1e-6)
        else:
            assert torch.equal(batch[1], target)
            moved_like = once[0][:, 2:3] if kind == "mask" else once[0]  # the mask is channel 2, the image all
            assert torch.equal(once[1], moved_like.to(target.dtype))  # moved exactly like the inputs


def test_rot90_moves_each_box_with_the_pixels_it_surrounds() -> None:
    images = torch.zeros(16, 1, 8, 8, dtype=torch.uint8)
    images[:, :, 1:3, 2:7] = 255  # a 2x5 object at rows 1-2, cols 2-6: the box [2, 1, 7, 3]
    boxes = [{"boxes": torch.tensor([[2.0, 1.0, 7.0, 3.0]]), "labels": torch.tensor([4])} for _ in range(16)]
    out, targets = random_rot90(targets="boxes")(images, boxes, _gen(4))
    seen = set()
    for image, target in zip(out, targets):
        rows, cols = image[0].nonzero(as_tuple=True)  # where the object went
        where = [cols.min().item(), rows.min().item(), cols.max().item() + 1, rows.max().item() + 1]
        assert target["boxes"].tolist() == [[float(v) for v in where]] and target["labels"].tolist() == [4]
        seen.add(tuple(where))
    # one quarter turn: (x, y) -> (y, 8 - x), so [2, 1, 7, 3] -> [1, 1, 3, 6]; two: [1, 5, 6, 7]; three: [5, 2, 7, 7]
    assert seen == {(2, 1, 7, 3), (1, 1, 3, 6), (1, 5, 6, 7), (5, 2, 7, 7)}
    assert rot90_boxes(torch.tensor([[2.0, 1.0, 7.0, 3.0]]), 8, 1).tolist() == [[1.0, 1.0, 3.0, 6.0]]


def test_rot90_needs_square_images_in_one_line():
    mask = torch.tensor([[[0, 1, 2], [3, 4, 5]]])  # a 2x3 mask
    images = mask[:, None].to(torch.uint8)
    with pytest.raises(LayerlabError, match="random_rot90 needs square images .* got 2x3; crop them square first$"):
        random_rot90(targets="mask")(images, mask, _gen())
    with pytest.raises(LayerlabError, match=r"random_rot90 needs a batch of images \(B, C, H, W\), got \(2, 3\)"):
        random_rot90()(mask[0], None, _gen())
    with pytest.raises(LayerlabError, match="random_rot90 targets must be one of class, mask, image, boxes; got 'boxes2'"):
        random_rot90(targets="boxes2")


# --- random_elastic -------------------------------------------------------------------------------


def _ramps(n: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Float images whose two channels hold each pixel's column and row, and masks holding its id
    row * size + col: after a warp, each says where its pixel was read from."""
    rows, cols = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    images = torch.stack([cols, rows]).expand(n, 2, size, size).contiguous()  # (B, 2, H, W)
    return images, (rows * size + cols).long().expand(n, size, size).contiguous()  # (B, H, W)


@pytest.mark.parametrize("size", [(17, 23), (32, 32)])
def test_elastic_with_sigma_zero_is_the_identity_for_uint8_images_and_masks(size):
    images = _images(n=4, h=size[0], w=size[1])
    mask = images[:, 0].long()
    out, moved = random_elastic(sigma=0.0, targets="mask")(images, mask, _gen())
    assert out.dtype == torch.uint8 and torch.equal(out, images)
    assert moved.dtype == torch.long and torch.equal(moved, mask)


def test_elastic_with_sigma_zero_is_the_identity_for_float_images_of_power_of_two_size():
    images = _images(n=4, h=32, w=64, dtype=torch.float32) / 255
    out, same = random_elastic(sigma=0.0, targets="image")(images, images * 2, _gen())
    assert torch.equal(out, images) and torch.equal(same, images * 2)  # pixel centres are exact in float32
    other = _images(n=4, h=17, w=23, dtype=torch.float32) / 255  # elsewhere the centres are off by float32 rounding
    torch.testing.assert_close(random_elastic(sigma=0.0)(other, None, _gen())[0], other, rtol=0, atol=1e-5)


def test_elastic_mask_keeps_its_label_set_and_reads_the_pixel_nearest_to_the_images_source():
    images, ids = _ramps(8, 64)
    out, moved = random_elastic(sigma=5.0, targets="mask")(images, ids, _gen(0))
    col, row = out[:, 0], out[:, 1]  # where each output pixel was read from (bicubic reproduces a ramp)
    assert (col - images[:, 0]).abs().max() > 5  # it really moved (up to 12 pixels here)
    # mirrored reads within 2 pixels of the border do not reproduce a ramp: judge the rest (86% of pixels)
    inside = (col >= 2) & (col <= 61) & (row >= 2) & (row <= 61)
    assert inside.float().mean() > 0.8
    # nearest reads the pixel within 1/2 of the source; bicubic (a = -0.75) reads a ramp to within 0.05
    assert (moved % 64 - col)[inside].abs().max() <= 0.55 and (moved // 64 - row)[inside].abs().max() <= 0.55
    labels = torch.tensor([0, 3, 7, 255], dtype=torch.uint8)[torch.arange(64 * 64).remainder(4)].view(1, 64, 64)
    _, relabelled = random_elastic(sigma=10.0, targets="mask")(images[:1], labels, _gen(1))
    assert relabelled.dtype == torch.uint8 and set(relabelled.unique().tolist()) <= {0, 3, 7, 255}
    assert not torch.equal(relabelled, labels)


def test_a_one_pixel_marker_lands_where_its_mask_label_lands():
    images = torch.zeros(16, 2, 128, 128, dtype=torch.uint8)
    mask = torch.zeros(16, 1, 128, 128, dtype=torch.long)  # (B, 1, H, W) masks are moved too
    places = torch.randint(24, 104, (16, 2), generator=_gen(0))  # away from the mirrored border
    for i, (r, c) in enumerate(places.tolist()):
        images[i, 1, r, c], mask[i, 0, r, c] = 255, 1
    out, moved = random_elastic(grid=3, sigma=10.0, targets="mask")(images, mask, _gen(1))  # the paper's warp
    marker = out[:, 1:2]  # (B, 1, H, W) the marker channel, 255 * k(dx) * k(dy) at each pixel, where
    # (dx, dy) is how far the pixel's source lies from the marker and k is bicubic's kernel (a = -0.75):
    # k(0) = 1, k(1/2) = 0.59375. The mask says 1 exactly where |dx|, |dy| < 1/2, so there the marker
    # is at least 255 * k(1/2)^2 = 89.9, and anywhere else at most 255 * k(0) * k(1/2) = 151.4.
    assert marker[moved == 1].min() >= 90 and marker[moved == 0].max() <= 151
    bright = [i for i in range(16) if marker[i].max() > 151]  # a stretched warp can dim a one-pixel marker
    assert len(bright) >= 8  # 10 of the 16 with these draws: the check below is not vacuous
    for i in bright:  # so the brightest pixel of the marker carries the mask's label
        assert moved[i, 0].flatten()[marker[i, 0].flatten().argmax()] == 1
    went = sum(int(marker[i, 0].flatten().argmax() != places[i, 0] * 128 + places[i, 1]) for i in bright)
    assert went == len(bright)  # and every one of them moved
    assert out[:, 0].max() == 0  # the empty channel stays empty


def test_sigma_is_in_pixels_and_each_image_draws_its_own_field():
    images, _ = _ramps(200, 129)  # a 3x3 grid on 129 pixels: the centre control point sits on pixel (64, 64)
    ten, _ = random_elastic(sigma=10.0)(images, None, _gen(3))
    twenty, _ = random_elastic(sigma=20.0)(images, None, _gen(3))
    shift = ten[:, :, 64, 64] - 64  # (B, 2) the centre displacement (dx, dy), drawn from N(0, 10) pixels
    # bicubic (a = -0.75) reads a ramp to within 0.05 pixel, so the same draws twice as large agree to 0.15
    torch.testing.assert_close(twenty[:, :, 64, 64] - 64, shift * 2, rtol=0, atol=0.15)
    assert shift.std().item() == pytest.approx(10.0, rel=0.1)  # 400 draws: the estimate's own sd is 3.5%
    assert len(set(shift[:, 0].tolist())) == 200  # one field per image


def test_elastic_repeats_with_a_seed_and_never_touches_the_global_rng():
    images, mask = _images(n=6, c=1, h=16, w=16), _images(n=6, c=1, h=16, w=16)[:, 0]
    state = torch.get_rng_state()
    a = random_elastic(targets="mask")(images, mask, _gen(5))
    b = random_elastic(targets="mask")(images, mask, _gen(5))
    c = random_elastic(targets="mask")(images, mask, _gen(6))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_elastic_with_p_half_leaves_the_other_images_bit_for_bit():
    images = _images(n=40, c=1, h=16, w=16, dtype=torch.float32) / 7  # float values a resampling would change
    out, _ = random_elastic(p=0.5)(images, None, _gen(2))
    same = [torch.equal(out[i], images[i]) for i in range(40)]
    assert 0 < sum(same) < 40
    assert torch.equal(random_elastic(p=0.0)(images, None, _gen())[0], images)


def test_elastic_image_targets_move_like_the_inputs_and_bad_arguments_are_one_line():
    images = _images(n=4, c=2, h=16, w=16, dtype=torch.float32)
    out, target = random_elastic(targets="image")(images, images.flip(1), _gen(4))
    torch.testing.assert_close(target, out.flip(1), rtol=0, atol=0)  # the channels swapped, the field the same
    with pytest.raises(LayerlabError, match=r"^random_elastic cannot move boxes \(a warped box is no rectangle\)"):
        random_elastic(targets="boxes")
    with pytest.raises(LayerlabError, match="random_elastic targets must be one of class, mask, image, boxes; got 'box'"):
        random_elastic(targets="box")
    for bad, match in ((dict(grid=1), "grid must be >= 2"), (dict(sigma=-1.0), "sigma must be >= 0 pixels, got -1.0"),
                       (dict(sigma=float("nan")), "got nan"), (dict(p=2.0), r"probability must be in \[0, 1\], got 2.0")):
        with pytest.raises(LayerlabError, match=match):
            random_elastic(**bad)
    with pytest.raises(LayerlabError, match=r"a mask target must be \(B, H, W\) or \(B, 1, H, W\)"):
        random_elastic(targets="mask")(images, torch.zeros(4, 8, 8, dtype=torch.long), _gen())


# --- statistics and pipelines ---------------------------------------------------------------------


# --- targets that move with the image ------------------------------------------------------------


def test_a_flip_mirrors_box_x_coordinates_and_keeps_labels() -> None:
    images = torch.zeros(1, 3, 4, 10, dtype=torch.uint8)  # 10 pixels wide
    boxes = [{"boxes": torch.tensor([[1.0, 2.0, 4.0, 6.0], [0.0, 0.0, 10.0, 4.0]]), "labels": torch.tensor([3, 7])}]
    _, (out,) = random_hflip(1.0, targets="boxes")(images, boxes, _gen())
    assert out["boxes"].tolist() == [[6.0, 2.0, 9.0, 6.0], [0.0, 0.0, 10.0, 4.0]]  # x1, x2 -> 10 - x2, 10 - x1
    assert out["labels"].tolist() == [3, 7]
    _, (kept,) = random_hflip(0.0, targets="boxes")(images, boxes, _gen())
    assert kept["boxes"].tolist() == [[1.0, 2.0, 4.0, 6.0], [0.0, 0.0, 10.0, 4.0]]
    assert flip_boxes(torch.tensor([[2.5, 0.0, 3.5, 1.0]]), 8).tolist() == [[4.5, 0.0, 5.5, 1.0]]


def test_a_crop_shifts_and_clips_boxes_and_drops_those_left_with_no_area() -> None:
    target = {"boxes": torch.tensor([[1.0, 1.0, 5.0, 5.0], [6.0, 0.0, 8.0, 2.0], [0.0, 6.0, 2.0, 8.0]]),
              "labels": torch.tensor([1, 2, 3])}
    # an 8x8 window whose top-left corner is 2 pixels right of and 1 pixel above the image's
    out = crop_boxes(target, left=2, top=-1, size=(8, 8))
    # shifted by (-2, +1): [-1, 2, 3, 6], [4, 1, 6, 3], [-2, 7, 0, 9]; clipped to 0..8; the third has width 0
    assert out["boxes"].tolist() == [[0.0, 2.0, 3.0, 6.0], [4.0, 1.0, 6.0, 3.0]]
    assert out["labels"].tolist() == [1, 2]
    with pytest.raises(LayerlabError, match="'scores' has 1 rows for 3 boxes"):
        crop_boxes({**target, "scores": torch.ones(1)}, left=0, top=0, size=(8, 8))


def test_random_crop_moves_each_box_with_the_pixels_it_surrounds() -> None:
    images = torch.zeros(16, 1, 8, 8, dtype=torch.uint8)
    images[:, :, 3:5, 2:4] = 255  # a 2x2 object at rows 3-4, cols 2-3: the box [2, 3, 4, 5]
    boxes = [{"boxes": torch.tensor([[2.0, 3.0, 4.0, 5.0]]), "labels": torch.tensor([1])} for _ in range(16)]
    out, targets = random_crop(2, targets="boxes")(images, boxes, _gen(4))
    shifts = set()
    for image, target in zip(out, targets):
        rows, cols = image[0].nonzero(as_tuple=True)  # where the object went (padding 2: it stays inside)
        where = [cols.min().item(), rows.min().item(), cols.max().item() + 1, rows.max().item() + 1]
        assert target["boxes"].tolist() == [[float(v) for v in where]] and target["labels"].tolist() == [1]
        shifts.add((where[0] - 2, where[1] - 3))
    assert len(shifts) > 5  # many different offsets were checked


@pytest.mark.parametrize("mode", ["constant", "reflect"])
@pytest.mark.parametrize("mask_dims", [3, 4])
def test_a_cropped_mask_is_the_same_crop_of_the_images_marker_pixels(mode, mask_dims) -> None:
    images = _images(n=16, c=2)  # every pixel nonzero: 0 in the output can only be padding
    mask = images[:, 0].long()  # (B, H, W): the label of each pixel is channel 0's value
    mask = mask if mask_dims == 3 else mask[:, None]
    out, moved = random_crop(2, mode, targets="mask")(images, mask, _gen(5))
    assert moved.shape == mask.shape and moved.dtype == torch.long
    moved = moved if mask_dims == 3 else moved[:, 0]
    padding = out[:, 0] == 0
    assert torch.equal(moved[~padding], out[:, 0][~padding].long())  # moved exactly like the image
    assert torch.equal(moved == 255, padding)  # the ignore value exactly where the image was padded
    if mode == "constant":  # the same draws with another ignore value: only the padding changes
        assert padding.any()
        _, other = random_crop(2, targets="mask", ignore_index=-100)(images, images[:, 0].long(), _gen(5))
        assert set(other[padding].tolist()) == {-100} and torch.equal(other[~padding], moved[~padding])


def test_image_targets_are_moved_and_padded_like_the_inputs() -> None:
    images = _images(n=8).float()
    clean = images * 2  # an autoencoder's target: another image of the same size
    out, target = compose(random_crop(2, targets="image"), random_hflip(targets="image"))(images, clean, _gen(6))
    torch.testing.assert_close(target, out * 2, rtol=0, atol=0)


def test_flipping_twice_restores_image_mask_and_boxes() -> None:
    images = _images(n=6, w=7)
    mask = images[:, 0].clone()
    boxes = [{"boxes": torch.tensor([[1.0, 0.0, 3.5, 2.0]]) + i, "labels": torch.tensor([i])} for i in range(6)]
    for kind, target in (("mask", mask), ("boxes", boxes)):
        flip = random_hflip(0.5, targets=kind)
        once = flip(images, target, _gen(8))
        twice = flip(*once, _gen(8))  # the same coins again: every flipped image flips back
        assert torch.equal(twice[0], images)
        if kind == "mask":
            assert torch.equal(twice[1], mask) and not torch.equal(once[1], mask)
        else:
            assert [t["boxes"].tolist() for t in twice[1]] == [t["boxes"].tolist() for t in boxes]
            assert [t["boxes"].tolist() for t in once[1]] != [t["boxes"].tolist() for t in boxes]


def test_augment_pipeline_moves_masks_but_normalises_only_the_images() -> None:
    images = _images(n=8, c=1)
    out, mask = augment_pipeline((0.5,), (0.25,), targets="mask")(images, images[:, 0].long(), _gen(9))
    assert out.dtype == torch.float32 and mask.dtype == torch.long
    inside = mask != 255
    pixels = (out[:, 0] * 0.25 + 0.5) * 255  # undo the normalisation: back to the marker values
    torch.testing.assert_close(pixels[inside], mask[inside].float(), rtol=0, atol=1e-3)


def test_target_kinds_and_shapes_are_checked_in_one_line() -> None:
    with pytest.raises(LayerlabError, match="random_crop targets must be one of class, mask, image, boxes; got 'masks'"):
        random_crop(2, targets="masks")
    with pytest.raises(LayerlabError, match="random_hflip targets must be one of"):
        random_hflip(targets="labels")
    with pytest.raises(LayerlabError, match="random_vflip targets must be one of"):
        random_vflip(targets="labels")
    with pytest.raises(LayerlabError, match=r"random_vflip probability must be in \[0, 1\], got 1.5"):
        random_vflip(1.5)
    images = _images(n=2)
    with pytest.raises(LayerlabError, match=r"a mask target must be \(B, H, W\) or \(B, 1, H, W\)"):
        random_crop(1, targets="mask")(images, torch.zeros(2, 3, 3, dtype=torch.long), _gen())
    with pytest.raises(LayerlabError, match="ignore_index -100 does not fit a uint8 mask"):
        random_crop(1, targets="mask", ignore_index=-100)(images, images[:, 0], _gen())


def test_channel_stats_matches_a_direct_computation_for_uint8_and_float():
    g = _gen(4)
    x = torch.randint(0, 256, (300, 3, 7, 9), generator=g, dtype=torch.uint8)
    x[:, 1] //= 2  # different channels get different statistics
    direct = x.double() / 255
    want_mean, want_std = direct.mean(dim=(0, 2, 3)), direct.std(dim=(0, 2, 3), correction=0)
    for data in (TensorData(x, torch.zeros(300)), direct.float()):
        mean, std = channel_stats(data, chunk=64)  # several chunks, the last one short
        torch.testing.assert_close(torch.tensor(mean, dtype=torch.float64), want_mean, rtol=0, atol=1e-6)
        torch.testing.assert_close(torch.tensor(std, dtype=torch.float64), want_std, rtol=0, atol=1e-6)
    assert mean[1] < 0.3 < mean[0]


def test_channel_stats_of_a_known_image():
    x = torch.tensor([[[[0, 255]], [[51, 51]]]], dtype=torch.uint8)  # 1 image, 2 channels, 1x2 pixels
    mean, std = channel_stats(x)
    assert mean == pytest.approx((0.5, 0.2))
    assert std == pytest.approx((0.5, 0.0))


def test_channel_stats_rejects_an_empty_batch():
    with pytest.raises(LayerlabError, match="non-empty"):
        channel_stats(torch.zeros(0, 3, 4, 4, dtype=torch.uint8))


def test_eval_pipeline_is_float_then_normalize():
    x = _images()
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    out, _ = eval_pipeline(mean, std)(x, torch.zeros(8), _gen())
    torch.testing.assert_close(out, normalize(x.float() / 255, mean, std))
    last, _ = eval_pipeline(mean, std, channels_last=True)(x, torch.zeros(8), _gen())
    assert last.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(last, out)


def test_augment_pipeline_without_crop_or_flip_equals_eval_and_with_them_equals_the_steps():
    x = _images(n=16)
    mean, std = (0.5, 0.5, 0.5), (0.2, 0.2, 0.2)
    plain, _ = augment_pipeline(mean, std, crop_padding=0, flip=False)(x, torch.zeros(16), _gen())
    torch.testing.assert_close(plain, eval_pipeline(mean, std)(x, torch.zeros(16), _gen())[0])
    out, _ = augment_pipeline(mean, std, channels_last=True)(x, torch.zeros(16), _gen(9))
    g = _gen(9)  # the same draws, step by step
    steps, _ = random_crop(4)(x, None, g)
    steps, _ = random_hflip()(steps, None, g)
    steps, _ = float_normalize(mean, std)(steps, None, g)
    assert out.dtype == torch.float32 and out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, steps)


def test_select_classes_relabels_in_the_given_order_and_names_a_missing_class():
    from layerlab.data.tensors import select_classes

    data = TensorData(torch.arange(12).view(12, 1), torch.tensor([0, 1, 2] * 4), ("a", "b", "c"), "toy")
    picked = select_classes(data, ("c", "a"))
    assert picked.classes == ("c", "a")
    assert picked.inputs.flatten().tolist() == [2, 5, 8, 11, 0, 3, 6, 9]
    assert picked.targets.tolist() == [0] * 4 + [1] * 4
    assert len(select_classes(data, ("b",), per_class=2, seed=3)) == 2
    with pytest.raises(LayerlabError, match="toy has no class 'z'; its classes: a, b, c"):
        select_classes(data, ("a", "z"))
