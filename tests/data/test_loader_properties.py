"""BatchLoader's order, for any size, batch size and seed (Hypothesis draws them): every epoch is a
permutation of the rows, the order changes between epochs and is the same for the same (seed, epoch),
and the shards of a distributed run are disjoint and together cover the data."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from layerlab.data import BatchLoader, TensorData

FAST = settings(max_examples=30, deadline=None)
SEEDS = st.integers(0, 10_000)


def _rows(n: int) -> TensorData:
    """Row i holds input i and target i, so a batch shows which rows it took."""
    return TensorData(torch.arange(n).unsqueeze(1), torch.arange(n))


def _epoch(loader: BatchLoader, epoch: int) -> list[list[int]]:
    loader.set_epoch(epoch)
    batches = [(inputs.squeeze(1).tolist(), targets.tolist()) for inputs, targets in loader]
    assert all(inputs == targets for inputs, targets in batches)          # inputs stay paired with targets
    return [targets for _, targets in batches]


@FAST
@given(st.integers(1, 70), st.integers(1, 20), SEEDS, st.integers(0, 50))
def test_a_shuffled_epoch_is_a_permutation_cut_into_full_batches(n: int, batch_size: int, seed: int, epoch: int) -> None:
    loader = BatchLoader(_rows(n), batch_size, shuffle=True, seed=seed)
    batches = _epoch(loader, epoch)
    assert sorted(sum(batches, [])) == list(range(n))
    assert [len(b) for b in batches[:-1]] == [batch_size] * (len(batches) - 1) and 1 <= len(batches[-1]) <= batch_size
    assert len(batches) == len(loader) == -(-n // batch_size)


@FAST
@given(st.integers(1, 70), st.integers(1, 20), SEEDS)
def test_drop_last_yields_only_full_batches(n: int, batch_size: int, seed: int) -> None:
    loader = BatchLoader(_rows(n), batch_size, shuffle=True, seed=seed, drop_last=True)
    batches = _epoch(loader, 1)
    assert [len(b) for b in batches] == [batch_size] * (n // batch_size) and len(loader) == n // batch_size
    assert len(set(sum(batches, []))) == n - n % batch_size


@FAST
@given(st.integers(12, 70), SEEDS, st.integers(0, 50), st.integers(1, 50))
def test_the_order_changes_between_epochs_and_repeats_for_the_same_seed_and_epoch(n: int, seed: int, epoch: int,
                                                                                   step: int) -> None:
    first = _epoch(BatchLoader(_rows(n), 4, shuffle=True, seed=seed), epoch)
    again = _epoch(BatchLoader(_rows(n), 4, shuffle=True, seed=seed), epoch)     # a resumed run's new loader
    later = _epoch(BatchLoader(_rows(n), 4, shuffle=True, seed=seed), epoch + step)
    assert first == again
    assert first != later                    # 12! orders: a repeat by chance is below 1 in 400 million


def test_different_seeds_give_different_orders_and_no_shuffle_keeps_the_file_order() -> None:
    assert _epoch(BatchLoader(_rows(30), 30, shuffle=True, seed=0), 1) != _epoch(BatchLoader(_rows(30), 30, shuffle=True, seed=1), 1)
    assert _epoch(BatchLoader(_rows(7), 3), 5) == [[0, 1, 2], [3, 4, 5], [6]]


@FAST
@given(st.integers(1, 70), st.integers(1, 8), st.integers(1, 9), SEEDS, st.booleans())
def test_rank_shards_are_disjoint_and_cover_the_data(n: int, world_size: int, batch_size: int, seed: int,
                                                     shuffle: bool) -> None:
    shards = [sum(_epoch(BatchLoader(_rows(n), batch_size, shuffle=shuffle, seed=seed, rank=rank, world_size=world_size), 3), [])
              for rank in range(world_size)]
    assert sorted(sum(shards, [])) == list(range(n))                       # every row on exactly one rank
    assert max(map(len, shards)) - min(map(len, shards)) <= 1              # as even as the rows allow
    for rank in range(world_size):
        loader = BatchLoader(_rows(n), batch_size, shuffle=shuffle, seed=seed, rank=rank, world_size=world_size)
        assert len(loader) == -(-len(shards[rank]) // batch_size)


@FAST
@given(st.integers(1, 70), st.integers(1, 8), st.integers(1, 9), SEEDS, st.integers(0, 50))
def test_even_shards_give_every_rank_the_same_steps_and_read_every_row(n: int, world_size: int, batch_size: int,
                                                                        seed: int, epoch: int) -> None:
    loaders = [BatchLoader(_rows(n), batch_size, shuffle=True, seed=seed, rank=rank, world_size=world_size,
                           even_shards=True) for rank in range(world_size)]
    epochs = [_epoch(loader, epoch) for loader in loaders]
    assert len({len(batches) for batches in epochs}) == 1                      # no rank runs an extra step
    assert all(len(batches) == len(loader) for batches, loader in zip(epochs, loaders))
    assert len({tuple(map(len, batches)) for batches in epochs}) == 1         # and its batches are as large
    rows = sum((sum(batches, []) for batches in epochs), [])
    assert set(rows) == set(range(n))                                          # every row read each epoch
    assert len(rows) - n == (-n) % world_size                                  # padding: at most world_size - 1 repeats


@FAST
@given(st.integers(1, 70), st.integers(1, 4), st.integers(1, 9), SEEDS)
def test_batch_k_of_all_ranks_is_batch_k_of_one_process_with_a_larger_batch(n: int, world_size: int, batch_size: int,
                                                                            seed: int) -> None:
    n -= n % world_size                          # no padding: the claim is about the shards' interleaving
    if n == 0:
        return
    single = _epoch(BatchLoader(_rows(n), batch_size * world_size, shuffle=True, seed=seed), 2)
    ranks = [_epoch(BatchLoader(_rows(n), batch_size, shuffle=True, seed=seed, rank=rank, world_size=world_size,
                                even_shards=True), 2) for rank in range(world_size)]
    assert [sorted(sum(parts, [])) for parts in zip(*ranks, strict=True)] == [sorted(b) for b in single]
