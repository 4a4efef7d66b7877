"""random_join: lines of text joined in pairs, texts with them. Every joined line is one line cut at its
width followed by another (never itself) cut at its width, the texts follow the same pairing, the
padding repeats the last column as the reader's does, and a CRNN trains on the result."""

from __future__ import annotations

import pytest
import torch

from layerlab.data.transforms import random_join
from layerlab.errors import LayerlabError
from layerlab.models import get_model
from layerlab.tasks.ctc import CTCStep


def _lines() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """4 lines 3 px high, 5..8 px wide (padded to 8 by repeating the last column), texts of 1..4 characters."""
    widths, lengths = torch.tensor([5, 8, 6, 7]), torch.tensor([2, 4, 1, 3])
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4, 1, 3, 8), dtype=torch.uint8, generator=g)
    labels = torch.zeros(4, 4, dtype=torch.long)
    for i in range(4):
        images[i, ..., widths[i]:] = images[i, ..., widths[i] - 1 : widths[i]]
        labels[i, : lengths[i]] = torch.arange(1, lengths[i] + 1) + 10 * i   # line i's text: 10i+1, 10i+2, ...
    return images, {"labels": labels, "label_lengths": lengths, "widths": widths}


@pytest.mark.parametrize("seed", range(5))
def test_each_joined_line_is_one_line_then_another_with_their_texts(seed: int) -> None:
    images, targets = _lines()
    out, joined = random_join(1.0)(images, targets, torch.Generator().manual_seed(seed))
    w, n = targets["widths"].tolist(), targets["label_lengths"].tolist()
    partners = []
    for i in range(4):
        j = int(joined["labels"][i, n[i]]) // 10          # the second text tells which line followed line i
        partners.append(j)
        assert j != i
        assert joined["widths"][i] == w[i] + w[j] and joined["label_lengths"][i] == n[i] + n[j]
        assert joined["labels"][i, : n[i] + n[j]].tolist() == targets["labels"][i, : n[i]].tolist() + \
            targets["labels"][j, : n[j]].tolist()
        assert (joined["labels"][i, n[i] + n[j]:] == 0).all()                     # padded with the blank's 0
        assert torch.equal(out[i, ..., : w[i]], images[i, ..., : w[i]])        # line i without its padding,
        assert torch.equal(out[i, ..., w[i] : w[i] + w[j]], images[j, ..., : w[j]])   # then line j without its
        rest = out[i, ..., w[i] + w[j]:]                                         # then the last column repeated
        assert torch.equal(rest, images[j, ..., w[j] - 1 : w[j]].expand_as(rest))
    assert sorted(partners) == [0, 1, 2, 3]                   # every line follows exactly one other
    assert out.shape == (4, 1, 3, max(a + b for a, b in zip(w, [w[j] for j in partners])))


def test_p_zero_never_joins_and_p_half_joins_about_half_the_batches_repeatably() -> None:
    images, targets = _lines()
    for seed in range(10):
        out, same = random_join(0.0)(images, targets, torch.Generator().manual_seed(seed))
        assert out is images and same is targets
    joined = [random_join(0.5)(images, targets, torch.Generator().manual_seed(s))[0].shape[-1] > 8 for s in range(400)]
    assert 160 <= sum(joined) <= 240                        # binomial(400, 0.5): mean 200, sd 10
    again = [random_join(0.5)(images, targets, torch.Generator().manual_seed(s))[0].shape[-1] > 8 for s in range(400)]
    assert joined == again


def test_channels_last_storage_is_kept() -> None:
    images, targets = _lines()
    nhwc = images.contiguous(memory_format=torch.channels_last)
    out, _ = random_join(1.0)(nhwc, targets, torch.Generator().manual_seed(0))
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, random_join(1.0)(images, targets, torch.Generator().manual_seed(0))[0])


def test_a_crnn_trains_on_joined_lines_with_the_columns_of_both() -> None:
    torch.manual_seed(0)
    model = get_model("crnn", num_classes=41, height=32, channels=[8, 8], hidden_size=16)   # 2 width pools: w // 4 columns
    images = torch.randn(4, 1, 32, 40)
    targets = {"labels": torch.randint(1, 41, (4, 3)), "label_lengths": torch.tensor([3, 2, 3, 1]),
               "widths": torch.tensor([40, 36, 40, 32])}
    out, joined = random_join(1.0)(images, targets, torch.Generator().manual_seed(1))
    assert int(joined["widths"].sum()) == 2 * 148 and int(joined["label_lengths"].sum()) == 2 * 9   # each line twice
    assert model(out, joined["widths"]).shape[1] == out.shape[-1] // 4 == int(joined["widths"].max()) // 4
    row = CTCStep(model, lr=1e-3).train((out, joined))
    assert torch.isfinite(row["loss"]) and 0 < row["loss"] < 1e3


def test_bad_probability_and_non_text_targets_are_one_line_errors() -> None:
    with pytest.raises(LayerlabError, match=r"^random_join p must be a probability in \[0, 1\], got 1.5$"):
        random_join(1.5)
    images, _ = _lines()
    with pytest.raises(LayerlabError, match=r"^random_join needs text-line targets \{labels, label_lengths, widths\}, "
                                            r"got Tensor$"):
        random_join(1.0)(images, torch.zeros(4, dtype=torch.long), torch.Generator())
    with pytest.raises(LayerlabError, match=r"needs a batch of images \(B, C, H, W\), got \(4, 3, 8\)"):
        random_join(1.0)(images[:, 0], _lines()[1], torch.Generator())
