"""AlternatingHFlip: every image is shown mirrored in exactly one of any two consecutive epochs, decided by
its own pixels, so a loader (and a resumed run) gets the same flips without sample indices."""

from __future__ import annotations

import pytest
import torch

from layerlab.data import BatchLoader, TensorData
from layerlab.data.transforms import AlternatingHFlip, augment_pipeline
from layerlab.errors import LayerlabError


def _images(n: int = 400) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 3, 4, 5), generator=g, dtype=torch.uint8)


def _mirrored(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    same, flipped = (after == before).flatten(1).all(1), (after == before.flip(-1)).flatten(1).all(1)
    assert (same | flipped).all()                         # nothing else is done to an image
    return flipped & ~same


def test_each_image_is_mirrored_in_every_other_epoch_by_the_parity_of_its_pixel_sum():
    images = _images()
    flip, g = AlternatingHFlip(), torch.Generator()
    seen = []
    for epoch in (1, 2, 3, 4):
        flip.set_epoch(epoch)
        seen.append(_mirrored(images, flip(images, None, g)[0]))
    odd = images.flatten(1).sum(1) % 2 == 1
    assert torch.equal(seen[0], odd) and torch.equal(seen[1], ~odd)      # odd sums in odd epochs, the rest in even
    assert torch.equal(seen[0], seen[2]) and torch.equal(seen[1], seen[3])
    assert 160 < int(odd.sum()) < 240                                    # about half of 400 (here 200)


def test_a_loader_mirrors_an_image_in_exactly_one_of_two_consecutive_epochs_whatever_its_batch():
    images = _images(64)
    data = TensorData(images, torch.arange(64))                          # the target is the image's index
    loader = BatchLoader(data, 10, shuffle=True, transform=augment_pipeline((0.0,) * 3, (1.0,) * 3, crop_padding=0,
                                                                              alternate_flip=True))
    flipped = {}
    for epoch in (1, 2):
        loader.set_epoch(epoch)
        for x, idx in loader:
            back = (x * 255).round().to(torch.uint8)                     # mean 0, std 1: only /255 to undo
            flipped[epoch] = {**flipped.get(epoch, {}), **dict(zip(idx.tolist(), _mirrored(images[idx], back).tolist()))}
    symmetric = (images == images.flip(-1)).flatten(1).all(1)
    assert not symmetric.any()
    assert all(flipped[1][i] != flipped[2][i] for i in range(64))


def test_it_needs_the_raw_uint8_images_and_class_targets():
    with pytest.raises(LayerlabError, match=r"AlternatingHFlip reads raw uint8 images \(B, C, H, W\), got torch.float32"):
        AlternatingHFlip()(torch.zeros(2, 3, 4, 4), None, torch.Generator())
    with pytest.raises(LayerlabError, match="alternate_flip mirrors class-labelled images only, not mask targets"):
        augment_pipeline((0.5,), (0.5,), targets="mask", alternate_flip=True)
