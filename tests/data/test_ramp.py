"""Ramp: an augmentation whose strength grows over the first epochs. The strength of every epoch is
the arithmetic its docstring states, the loaders and `compose` announce each epoch to it, and fit
(straight and resumed) trains every epoch at that epoch's strength."""

from __future__ import annotations

import pytest
import torch

from layerlab.data import BatchLoader, TensorData
from layerlab.data.transforms import Ramp, compose, float_normalize, random_affine
from layerlab.engine import RunDir, fit
from layerlab.errors import LayerlabError
from layerlab.models import get_model


def _recorder(seen: list[float]):
    """make(strength) for a Ramp that adds the strength to every input and notes it once per batch."""
    def make(strength: float):
        def run(inputs, targets, g):
            seen.append(strength)
            return inputs + strength, targets
        return run
    return make


def test_the_strength_rises_by_one_over_epochs_each_epoch_and_then_stays_at_one() -> None:
    ramp = Ramp(_recorder([]), epochs=4)
    assert [ramp.strength(e) for e in range(1, 8)] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert Ramp(_recorder([]), epochs=0).strength(1) == 1.0   # 0: full strength from the first epoch
    assert Ramp(_recorder([]), epochs=3).strength(0) == 0.0   # before fit announces epoch 1: nothing either


def test_a_ramp_of_random_affine_moves_nothing_first_then_half_then_fully() -> None:
    images = torch.randint(0, 256, (4, 1, 20, 60), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    ramp = Ramp(lambda s: random_affine(degrees=4 * s, shift=(8 * s, 3 * s), shear=10 * s), epochs=10)

    def moved(transform):
        return transform(images, None, torch.Generator().manual_seed(5))[0]

    assert torch.equal(moved(ramp), images)                    # epoch 1: strength 0, every pixel where it was
    ramp.set_epoch(6)
    assert torch.equal(moved(ramp), moved(random_affine(degrees=2.0, shift=(4.0, 1.5), shear=5.0)))
    ramp.set_epoch(11)
    full = moved(random_affine(degrees=4.0, shift=(8.0, 3.0), shear=10.0))
    assert torch.equal(moved(ramp), full) and not torch.equal(full, images)


def test_compose_and_the_loader_pass_the_epoch_on_to_the_ramp() -> None:
    seen: list[float] = []
    data = TensorData(torch.zeros(8, 1, 2, 2), torch.zeros(8, dtype=torch.long))
    loader = BatchLoader(data, 4, transform=compose(Ramp(_recorder(seen), epochs=2), float_normalize()))
    for epoch in (1, 2, 3, 4):
        loader.set_epoch(epoch)
        values = [float(inputs.mean()) for inputs, _ in loader]
        assert values == [min(1.0, (epoch - 1) / 2)] * 2        # the strength added to every pixel of both batches
    assert seen == [0.0, 0.0, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0]


class _Killed(Exception):
    pass


def test_fit_trains_each_epoch_at_its_strength_and_a_resumed_run_ramps_like_an_uninterrupted_one(tmp_path) -> None:
    g = torch.Generator().manual_seed(0)
    data = TensorData(torch.randn(32, 4, generator=g), torch.randint(0, 3, (32,), generator=g))

    def train(run: RunDir, seen: list[float], stop_after: int | None = None) -> torch.nn.Module:
        torch.manual_seed(0)
        model = get_model("mlp", sizes=(4, 8, 3))

        def kill(row: dict) -> None:
            if row["epoch"] == stop_after:
                raise _Killed

        fit(model, data, transform=Ramp(_recorder(seen), epochs=3), optimizer="sgd", lr=0.1, epochs=5, batch_size=16,
            device="cpu", progress=False, run=run, seed=1, log=kill)
        return model

    whole_seen: list[float] = []
    whole = train(RunDir.create(tmp_path / "a", "lab", {}), whole_seen)
    assert whole_seen == [0.0, 0.0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1.0, 1.0, 1.0, 1.0]   # 2 batches in each of 5 epochs
    run, first, rest = RunDir.create(tmp_path / "b", "lab", {}), [], []
    with pytest.raises(_Killed):
        train(run, first, stop_after=2)
    resumed = train(run, rest)
    assert first + rest == whole_seen                          # epochs 3-5 resumed at their own strengths
    torch.testing.assert_close(resumed.state_dict(), whole.state_dict())


def test_a_ramp_needs_a_whole_number_of_epochs_in_one_line() -> None:
    for bad in (-1, 2.5):
        with pytest.raises(LayerlabError, match=r"^a Ramp's epochs must be a whole number >= 0, got"):
            Ramp(_recorder([]), epochs=bad)
