"""Batch augmentation and statistics, checked on small hand-made tensors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from layerlab.data.tensors import TensorData
from layerlab.data.transforms import (
    augment_pipeline,
    channel_stats,
    eval_pipeline,
    float_normalize,
    normalize,
    random_crop,
    random_hflip,
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


# --- statistics and pipelines ---------------------------------------------------------------------


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
