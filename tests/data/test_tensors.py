"""TensorData and BatchLoader with structured targets: a tensor, a dict of tensors, a list of
per-sample dicts; a collate hook; `to_device` for nested batches."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pad_sequence

from layerlab.data import tensors, transforms
from layerlab.data.tensors import BatchLoader, TensorData, host_to_device, num_samples, select_classes, take, to_device
from layerlab.errors import LayerlabError


def _dict_data(n: int = 6) -> TensorData:
    # sample i: input i, a 2x2 mask full of i, length 10 + i: every batch can be checked row by row
    return TensorData(torch.arange(n), {"mask": torch.arange(n).view(n, 1, 1).expand(n, 2, 2).clone(),
                                        "lengths": torch.arange(n) + 10})


def _box_data(n: int = 5) -> TensorData:
    # sample i has i boxes (0 for the first image), each [i, i, i + 1, i + 1], all labelled i
    targets = [{"boxes": torch.tensor([[i, i, i + 1, i + 1]] * i, dtype=torch.float32).view(i, 4),
                "labels": torch.full((i,), i, dtype=torch.long)} for i in range(n)]
    return TensorData(torch.arange(n), targets)


def test_dict_targets_index_and_subset_row_by_row() -> None:
    data = _dict_data()
    assert len(data) == 6
    x, y = data[2]
    assert x.item() == 2 and y["mask"].tolist() == [[2, 2], [2, 2]] and y["lengths"].item() == 12
    x, y = data[1:3]
    assert x.tolist() == [1, 2] and y["lengths"].tolist() == [11, 12]
    part = data.subset(torch.tensor([4, 0]))
    assert part.inputs.tolist() == [4, 0] and part.targets["lengths"].tolist() == [14, 10]
    assert part.targets["mask"][:, 0, 0].tolist() == [4, 0]


def test_list_targets_keep_each_samples_dict_with_its_input() -> None:
    data = _box_data()
    assert len(data) == 5
    x, y = data[3]
    assert x.item() == 3 and y["boxes"].tolist() == [[3.0, 3.0, 4.0, 4.0]] * 3 and y["labels"].tolist() == [3, 3, 3]
    part = data.subset(torch.tensor([4, 0, 2]))
    assert part.inputs.tolist() == [4, 0, 2] and [len(t["labels"]) for t in part.targets] == [4, 0, 2]
    assert [t["labels"].tolist() for t in data[torch.tensor([False, True, False, False, True])][1]] == [[1], [4] * 4]


def test_mismatched_targets_are_one_line_errors() -> None:
    with pytest.raises(LayerlabError, match=r"targets\['lengths'\] has 5 rows but targets hold 6 samples"):
        TensorData(torch.zeros(6), {"mask": torch.zeros(6, 2, 2), "lengths": torch.zeros(5)})
    with pytest.raises(LayerlabError, match="demo: 6 inputs but 2 targets"):
        TensorData(torch.zeros(6), [{}, {}], name="demo")
    with pytest.raises(LayerlabError, match="list targets must hold one dict of tensors per sample"):
        TensorData(torch.zeros(2), [torch.zeros(1), torch.zeros(1)])


def test_to_device_moves_every_tensor_of_a_nested_batch_and_keeps_its_shape() -> None:
    batch = ({"image": torch.zeros(2, 3)}, [{"boxes": torch.zeros(1, 4), "labels": torch.ones(1)}], "note", 3)
    moved = to_device(batch, "meta")  # the meta device: a real move, without a GPU
    assert isinstance(moved, tuple) and isinstance(moved[1], list)
    assert moved[0]["image"].device.type == "meta" and moved[0]["image"].shape == (2, 3)
    assert moved[1][0]["boxes"].device.type == "meta" and moved[1][0]["labels"].device.type == "meta"
    assert moved[2:] == ("note", 3)
    assert to_device(torch.ones(2), "meta").device.type == "meta"


@pytest.mark.parametrize("make", [_dict_data, _box_data])
def test_structured_batches_come_in_the_same_order_as_plain_ones(make) -> None:
    data = make()
    plain = TensorData(data.inputs, data.inputs.clone())
    for epoch in (0, 1):
        loaders = [BatchLoader(d, 2, shuffle=True, seed=3) for d in (data, plain)]
        for loader in loaders:
            loader.set_epoch(epoch)
        structured, reference = list(loaders[0]), list(loaders[1])
        assert [x.tolist() for x, _ in structured] == [x.tolist() for x, _ in reference]
        for inputs, targets in structured:  # every target belongs to the input beside it
            ids = inputs.tolist()
            if isinstance(targets, dict):
                assert targets["lengths"].tolist() == [10 + i for i in ids]
                assert targets["mask"][:, 1, 1].tolist() == ids
            else:
                assert [t["labels"].tolist() for t in targets] == [[i] * i for i in ids]
    # the order is a function of (seed, epoch) only: epoch 1 again gives the same batches
    again = BatchLoader(data, 2, shuffle=True, seed=3)
    again.set_epoch(1)
    assert [x.tolist() for x, _ in again] == [x.tolist() for x, _ in structured]


def test_the_plain_order_is_the_documented_permutation_of_seed_and_epoch() -> None:
    data = TensorData(torch.arange(10) * 10, torch.arange(10))
    loader = BatchLoader(data, 4, shuffle=True, seed=2, drop_last=True)
    loader.set_epoch(5)
    order = torch.randperm(10, generator=torch.Generator().manual_seed(2 * 100_003 + 5))
    batches = list(loader)
    assert [y.tolist() for _, y in batches] == [order[:4].tolist(), order[4:8].tolist()]  # the last 2 dropped
    assert [x.tolist() for x, _ in batches] == [(order[:4] * 10).tolist(), (order[4:8] * 10).tolist()]


def test_collate_pads_variable_length_sequences_before_the_transform_sees_them() -> None:
    sequences = [torch.arange(1, n + 1) for n in (3, 1, 2)]  # lengths 3, 1, 2
    data = TensorData(torch.arange(3), [{"tokens": s} for s in sequences])

    def pad(inputs, targets):
        tokens = pad_sequence([t["tokens"] for t in targets], batch_first=True)  # (B, longest)
        return inputs, {"tokens": tokens, "lengths": torch.tensor([len(t["tokens"]) for t in targets])}

    seen = []

    def record(inputs, targets, g):
        seen.append(sorted(targets))  # the transform receives what collate returned
        return inputs, targets

    (inputs, targets), = list(BatchLoader(data, 3, collate=pad, transform=record))
    assert seen == [["lengths", "tokens"]]
    assert targets["tokens"].tolist() == [[1, 2, 3], [1, 0, 0], [1, 2, 0]] and targets["lengths"].tolist() == [3, 1, 2]


def test_collate_also_runs_for_plain_tensors() -> None:
    data = TensorData(torch.arange(4).float(), torch.arange(4))
    loader = BatchLoader(data, 2, collate=lambda x, y: (x * 2, y + 100))
    assert [(x.tolist(), y.tolist()) for x, y in loader] == [([0.0, 2.0], [100, 101]), ([4.0, 6.0], [102, 103])]


def test_tuple_and_dict_inputs_are_gathered_per_tensor() -> None:
    data = TensorData((torch.arange(4), torch.arange(4) * 10), torch.arange(4))
    assert len(data) == 4
    (src, tgt), y = next(iter(BatchLoader(data, 3)))
    assert src.tolist() == [0, 1, 2] and tgt.tolist() == [0, 10, 20] and y.tolist() == [0, 1, 2]
    named = take({"a": torch.arange(4), "b": torch.arange(4) + 1}, torch.tensor([3, 1]))
    assert named["a"].tolist() == [3, 1] and named["b"].tolist() == [4, 2]


# --- what the loader, the dataset and their helpers promise, pinned exactly (issue 18's mutation score) ---


def test_a_loader_built_with_no_options_gives_batches_of_64_in_the_order_of_seed_0_epoch_0() -> None:
    data = TensorData(torch.arange(130) * 10, torch.arange(130))
    batches = [y.tolist() for _, y in BatchLoader(data, shuffle=True)]  # no set_epoch: epoch 0
    order = torch.randperm(130, generator=torch.Generator().manual_seed(0 * 100_003 + 0)).tolist()
    assert batches == [order[:64], order[64:128], order[128:]]


def test_the_augmentation_draws_of_an_epoch_come_from_one_generator_seeded_with_seed_and_epoch() -> None:
    # seed * 7_919 + epoch + 1, the generator fit's _Moved batches use too: a resumed run draws the same
    def noise(inputs, targets, g):
        return inputs + torch.randint(0, 1000, (len(inputs),), generator=g), targets

    plain = TensorData(torch.arange(6) * 1000, torch.arange(6))
    structured = TensorData(torch.arange(6) * 1000, {"lengths": torch.arange(6)})
    reference = torch.Generator().manual_seed(3 * 7_919 + 2 + 1)
    draws = torch.randint(0, 1000, (4,), generator=reference).tolist() + torch.randint(0, 1000, (2,), generator=reference).tolist()
    for data in (plain, structured):
        loader = BatchLoader(data, 4, transform=noise, seed=3)
        loader.set_epoch(2)
        seen = torch.cat([x for x, _ in loader]).tolist()
        assert seen == [1000 * i + d for i, d in enumerate(draws)]  # one stream across the epoch's batches


def test_the_device_argument_moves_every_tensor_of_plain_and_structured_batches() -> None:
    plain = TensorData(torch.arange(5).float(), torch.arange(5))
    (x, y), *_ = BatchLoader(plain, 2, device="meta")  # the meta device: a real move, without a GPU
    assert x.device.type == "meta" and y.device.type == "meta" and x.shape == (2,)
    (x, y), *_ = BatchLoader(_dict_data(), 2, device="meta")
    assert x.device.type == "meta" and {key: t.device.type for key, t in y.items()} == {"mask": "meta", "lengths": "meta"}


def test_only_a_cuda_loader_copies_asynchronously() -> None:
    data = TensorData(torch.arange(3), torch.arange(3))
    assert BatchLoader(data, device="cuda").non_blocking is True  # building a device needs no GPU
    assert BatchLoader(data, device="cpu").non_blocking is False and BatchLoader(data, device="meta").non_blocking is False


class _RecordsMoves(torch.Tensor):
    """A tensor that notes the `non_blocking` of every `.to` call made on it."""

    moves: list[bool] = []

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func is torch.Tensor.to:
            cls.moves.append((kwargs or {}).get("non_blocking", False))
        return super().__torch_function__(func, types, args, kwargs)


def test_to_device_passes_non_blocking_to_every_tensor_at_any_depth() -> None:
    def batch():
        t = torch.zeros(2).as_subclass(_RecordsMoves)
        return ({"image": t}, [{"boxes": t}], t)

    _RecordsMoves.moves = []
    to_device(batch(), "cpu", non_blocking=True)
    assert _RecordsMoves.moves == [True, True, True]
    _RecordsMoves.moves = []
    to_device(batch(), "cpu")
    assert _RecordsMoves.moves == [False, False, False]


class _FakeGPU(torch.Tensor):
    """A CPU tensor that notes `pin_memory` and moves to "cuda" instead of doing them (no GPU needed)."""

    calls: list = []

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.Tensor.pin_memory:
            cls.calls.append("pin")
            return args[0]
        if func is torch.Tensor.to and isinstance(args[1], (str, torch.device)) and torch.device(args[1]).type == "cuda":
            cls.calls.append(("copy", "async" if kwargs.get("non_blocking") else "waits"))
            return args[0]
        return super().__torch_function__(func, types, args, kwargs)


def test_a_cpu_tensor_bound_for_a_gpu_is_pinned_then_copied_without_waiting(monkeypatch) -> None:
    t = torch.arange(6).as_subclass(_FakeGPU)
    _FakeGPU.calls = []
    host_to_device(t, "cuda")
    assert _FakeGPU.calls == ["pin", ("copy", "async")]       # queued on the stream: the CPU goes on
    _FakeGPU.calls = []
    host_to_device(t, "cpu", non_blocking=True)
    assert _FakeGPU.calls == []                                # on the CPU nothing is pinned or copied
    monkeypatch.setattr(tensors, "PIN_MEMORY", False)          # the old way, for benchmarks to compare
    host_to_device(t, torch.device("cuda"))
    assert _FakeGPU.calls == [("copy", "waits")]


def test_a_cuda_loader_moves_every_batch_through_pinned_memory() -> None:
    data = TensorData(torch.zeros(10, 3, 4, 4, dtype=torch.uint8).as_subclass(_FakeGPU), torch.arange(10).as_subclass(_FakeGPU))
    _FakeGPU.calls = []
    batches = list(BatchLoader(data, 4, shuffle=True, device="cuda"))
    assert len(batches) == 3
    # the epoch's targets once, then each batch's images: all pinned, none waits for the GPU
    assert _FakeGPU.calls == ["pin", ("copy", "async")] * 4


def test_augmentation_draws_reach_the_device_through_host_to_device(monkeypatch) -> None:
    moved = []

    def spy(t, device, non_blocking=False):
        moved.append(tuple(t.shape))
        return host_to_device(t, device, non_blocking)

    monkeypatch.setattr(transforms, "host_to_device", spy)
    augment = transforms.augment_pipeline((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    augment(torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.zeros(4, dtype=torch.long), torch.Generator())
    assert moved == [(2, 4), (4,)]   # the crop's window corners, the flip's coins: drawn on the CPU, moved without a wait


def test_take_with_a_grid_of_row_ids_gives_a_grid_of_rows() -> None:
    # index_select wants a vector: any other shape of long ids goes through ordinary indexing
    assert take(torch.arange(10) * 10, torch.tensor([[1, 2], [3, 4]])).tolist() == [[10, 20], [30, 40]]
    assert take(torch.arange(10) * 10, torch.tensor(7)).tolist() == 70


def test_num_samples_counts_a_one_tensor_tuple_and_refuses_what_has_no_rows() -> None:
    assert num_samples((torch.arange(3),)) == 3 and len(TensorData((torch.arange(3),), torch.arange(3))) == 3
    with pytest.raises(LayerlabError, match=r"^inputs\[1\] has 3 rows but inputs hold 4 samples; every tensor needs one row per sample$"):
        num_samples((torch.zeros(4), torch.zeros(3)))
    with pytest.raises(LayerlabError, match=r"^inputs\['b'\] has 3 rows but inputs hold 4 samples"):
        TensorData({"a": torch.zeros(4), "b": torch.zeros(3)}, torch.zeros(4))
    with pytest.raises(LayerlabError, match=r"^inputs must be a tensor, a tuple or dict of tensors, or a list of dicts; got int$"):
        TensorData(5, torch.zeros(1))
    with pytest.raises(LayerlabError, match=r"^targets must be a tensor, a tuple or dict of tensors, or a list of dicts; got tuple$"):
        TensorData(torch.zeros(1), ())


def test_the_size_errors_of_a_dataset_and_a_loader_name_what_arrived() -> None:
    with pytest.raises(LayerlabError, match=r"^dataset: 6 inputs but 2 targets$"):
        TensorData(torch.zeros(6), torch.zeros(2))
    with pytest.raises(LayerlabError, match=r"^batch size must be a positive integer, got 0$"):
        BatchLoader(TensorData(torch.zeros(2), torch.zeros(2)), 0)


def _classes_data() -> TensorData:
    # row i is input i of class i % 3; uint8 targets, as the image readers store them
    return TensorData(torch.arange(12).view(12, 1), torch.tensor([0, 1, 2] * 4, dtype=torch.uint8), ("a", "b", "c"),
                      "toy", {"source": "toy.csv"})


def test_select_classes_draws_per_class_rows_with_its_seed_and_keeps_name_meta_and_dtype() -> None:
    data = _classes_data()
    rows_of_b = torch.tensor([1, 4, 7, 10])
    for seed in (0, 3):
        drawn = rows_of_b[torch.randperm(4, generator=torch.Generator().manual_seed(seed))[:2]]
        assert select_classes(data, ("b",), per_class=2, seed=seed).inputs.flatten().tolist() == drawn.tolist()
    assert select_classes(data, ("b",), per_class=2).inputs.tolist() == select_classes(data, ("b",), per_class=2, seed=0).inputs.tolist()
    picked = select_classes(data, ("c", "a"))
    assert picked.targets.dtype == torch.uint8 and picked.targets.tolist() == [0] * 4 + [1] * 4
    assert picked.name == "toy" and picked.meta == {"source": "toy.csv"}
    picked.meta["source"] = "changed"  # a copy: the subset's meta is its own
    assert data.meta == {"source": "toy.csv"}


def test_select_classes_errors_name_an_unnamed_dataset_the_dataset() -> None:
    unnamed = TensorData(torch.arange(3), torch.arange(3), ("a", "b", "c"))
    with pytest.raises(LayerlabError, match=r"^the dataset has no class 'z'; its classes: a, b, c$"):
        select_classes(unnamed, ("z",))
    with pytest.raises(LayerlabError, match=r"^select_classes needs class-id targets \(one tensor\); the dataset holds list targets$"):
        select_classes(_box_data(), ("a",))


def test_balanced_subset_keeps_the_same_count_of_every_class_and_their_labels() -> None:
    from layerlab.data.tensors import balanced_subset

    targets = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)              # unbalanced: 50, 30, 20
    data = TensorData(torch.arange(100.0).unsqueeze(1), targets, classes=("a", "b", "c"))
    small = balanced_subset(data, 30, seed=1)
    assert len(small) == 30 and torch.bincount(small.targets).tolist() == [10, 10, 10]
    assert all(int(data.targets[int(x)]) == int(y) for x, y in zip(small.inputs[:, 0], small.targets))  # rows keep their label
    assert torch.equal(balanced_subset(data, 30, seed=1).inputs, small.inputs)                      # the seed decides
    assert balanced_subset(data, 0) is data and balanced_subset(data, 100) is data                  # 0 or all: everything


def test_printing_a_dataset_is_one_short_line_not_its_tensors():
    import torch

    from layerlab.data.tensors import TensorData

    data = TensorData(torch.zeros(1000, 1, 28, 28, dtype=torch.uint8), torch.zeros(1000, dtype=torch.long),
                      tuple(str(d) for d in range(10)), "mnist")
    assert str(data) == repr(data) == ("TensorData('mnist', 1,000 examples, inputs uint8 (1000, 1, 28, 28), "
                                       "targets int64 (1000,), 10 classes)")
    boxes = TensorData(torch.zeros(2, 3, 8, 8), [{"boxes": torch.zeros(1, 4)}, {"boxes": torch.zeros(0, 4)}])
    assert str(boxes) == "TensorData('', 2 examples, inputs float32 (2, 3, 8, 8), targets list of 2)"


def test_printing_a_dataset_describes_tuple_inputs_and_dict_targets_item_by_item() -> None:
    data = TensorData((torch.zeros(3, 5, dtype=torch.long), torch.zeros(3, 4)),
                      {"mask": torch.zeros(3, 2, 2, dtype=torch.uint8), "lengths": torch.ones(3)}, name="pairs")
    assert repr(data) == ("TensorData('pairs', 3 examples, inputs (int64 (3, 5), float32 (3, 4)), "
                          "targets {mask: uint8 (3, 2, 2), lengths: float32 (3,)})")


def test_per_sample_files_follow_their_rows_through_subset_and_select_classes() -> None:
    files = tuple(f"img{i}.png" for i in range(6))
    data = TensorData(torch.arange(6), torch.tensor([0, 1, 0, 1, 0, 1]), ("even", "odd"), "toy",
                      {"files": files, "mean": (0.5,)})
    assert data.subset(torch.tensor([4, 1])).meta == {"files": ("img4.png", "img1.png"), "mean": (0.5,)}
    assert data.subset(torch.tensor([False, True, True, False, False, True])).meta["files"] == ("img1.png", "img2.png", "img5.png")
    assert data.subset(slice(1, 6, 2)).meta["files"] == ("img1.png", "img3.png", "img5.png")
    assert select_classes(data, ("odd",)).meta["files"] == ("img1.png", "img3.png", "img5.png")
    short = TensorData(torch.arange(6), torch.zeros(6), meta={"files": ("a.png", "b.png")})  # not one per row: kept whole
    assert short.subset(torch.tensor([0])).meta["files"] == ("a.png", "b.png")
