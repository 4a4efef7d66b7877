"""fit's defaults and options do what they say: each one against the hand-written loop it stands for.

The parity tests in test_loop.py pass their own batches; here `fit` builds the loader itself, so its
defaults (cross-entropy, SGD at 0.1, batches of 64 reshuffled every epoch from seed 0, one epoch)
and every option that reaches the optimizer, the step or the loader are checked by hand.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layerlab.data import BatchLoader, TensorData
from layerlab.engine import Supervised, evaluate, fit, predict
from layerlab.engine.loop import to_device
from layerlab.engine.metrics import Accuracy, MeanLoss
from layerlab.errors import LayerlabError


@pytest.fixture
def rows() -> TensorData:
    """150 rows: batches of 64, 64 and 22 (a batch size of 65 or no shuffle would be other batches)."""
    g = torch.Generator().manual_seed(0)
    inputs = torch.randn(150, 4, generator=g)
    return TensorData(inputs, (inputs[:, 0] > 0).long() + (inputs[:, 1] > 0.5).long())


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def _by_hand(model: nn.Module, data: TensorData, optimizer: torch.optim.Optimizer, *, epochs: int = 1,
             batch_size: int = 64, seed: int = 0, transform=None, clip: float | None = None) -> None:
    loader = BatchLoader(data, batch_size, shuffle=True, seed=seed, transform=transform)
    for epoch in range(1, epochs + 1):
        loader.set_epoch(epoch)
        for x, y in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()


def test_the_defaults_are_one_shuffled_epoch_of_sgd_at_0_1_in_batches_of_64(rows: TensorData) -> None:
    ours, theirs = _net(), _net()
    history = fit(ours, rows, progress=False)
    _by_hand(theirs, rows, torch.optim.SGD(theirs.parameters(), lr=0.1))
    torch.testing.assert_close(ours.state_dict(), theirs.state_dict())
    assert len(history) == 1 and sorted(history.last) == ["epoch", "lr", "seconds", "train_accuracy", "train_loss"]
    assert history.higher_is_better == {"loss": False, "accuracy": True}


def test_seed_epochs_batch_size_and_the_sgd_options_reach_the_loop(rows: TensorData) -> None:
    ours, theirs = _net(1), _net(1)
    fit(ours, rows, optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3, epochs=2,
        batch_size=50, seed=7, clip_grad_norm=0.05, progress=False)
    sgd = torch.optim.SGD(theirs.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
    _by_hand(theirs, rows, sgd, epochs=2, batch_size=50, seed=7, clip=0.05)   # 0.05: every step is clipped
    torch.testing.assert_close(ours.state_dict(), theirs.state_dict())


def _scaled(inputs: torch.Tensor, targets: torch.Tensor, g: torch.Generator):
    """A random transform: each batch scaled by a draw from the loader's generator."""
    return inputs * (1 + torch.rand(1, generator=g)), targets


def test_the_training_transform_draws_from_the_loader_and_val_uses_the_eval_transform(rows: TensorData) -> None:
    ours, theirs = _net(2), _net(2)
    val = TensorData(rows.inputs[:40], rows.targets[:40])
    history = fit(ours, rows, val=val, transform=_scaled, eval_transform=lambda x, y, g: (x * 3, y), progress=False)
    _by_hand(theirs, rows, torch.optim.SGD(theirs.parameters(), lr=0.1), transform=_scaled)
    torch.testing.assert_close(ours.state_dict(), theirs.state_dict())
    tripled = evaluate(ours, TensorData(val.inputs * 3, val.targets))
    assert history.last["val_loss"] == pytest.approx(tripled["loss"]) and history.last["val_accuracy"] == tripled["accuracy"]


def test_batches_from_a_list_are_transformed_with_the_seeded_generator(rows: TensorData) -> None:
    ours, theirs = _net(3), _net(3)
    batches = [rows[i : i + 50] for i in range(0, 150, 50)]
    fit(ours, batches, transform=_scaled, seed=4, progress=False)
    opt, g = torch.optim.SGD(theirs.parameters(), lr=0.1), torch.Generator().manual_seed(4 * 7_919 + 1 + 1)  # epoch 1
    for x, y in batches:
        x, y = _scaled(x, y, g)
        opt.zero_grad()
        F.cross_entropy(theirs(x), y).backward()
        opt.step()
    torch.testing.assert_close(ours.state_dict(), theirs.state_dict())


class _Epochs(list):
    """A list of batches that, like a DataLoader with a DistributedSampler, wants to know the epoch."""

    def __init__(self, batches: list) -> None:
        super().__init__(batches)
        self.seen: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        self.seen.append(epoch)


def test_any_iterable_of_batches_is_told_the_epoch_and_scored_like_a_dataset(rows: TensorData) -> None:
    batches = _Epochs([rows[i : i + 64] for i in range(0, 150, 64)])
    model = _net(4)
    fit(model, batches, epochs=3, progress=False)
    assert batches.seen == [1, 2, 3]
    assert evaluate(model, list(batches), batch_size=7) == pytest.approx(evaluate(model, rows))


@pytest.mark.usefixtures("native_bf16")
def test_bf16_autocast_in_fit_matches_a_hand_loop_under_autocast(rows: TensorData) -> None:
    ours, theirs = _net(8), _net(8)
    fit(ours, [rows[:50], rows[50:100]], amp=True, progress=False)
    opt = torch.optim.SGD(theirs.parameters(), lr=0.1)
    for x, y in (rows[:50], rows[50:100]):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = F.cross_entropy(theirs(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.testing.assert_close(ours.state_dict(), theirs.state_dict())


def test_a_loss_without_a_reduction_attribute_is_a_per_sample_mean() -> None:
    data = TensorData(torch.zeros(5, 1), torch.zeros(5, 1))
    model = nn.Linear(1, 2)                                   # mean and log-variance, both 0: N(0, 1)
    nn.init.zeros_(model.weight), nn.init.zeros_(model.bias)
    assert evaluate(model, data, loss="gaussian_nll", batch_size=2) == {"loss": pytest.approx(0.5 * math.log(2 * math.pi))}


def test_user_metrics_are_measured_and_name_the_monitor(rows: TensorData) -> None:
    history = fit(_net(), rows, val=rows, metrics={"my_acc": Accuracy(), "loss": MeanLoss()}, loss=nn.CrossEntropyLoss(),
                  patience=3, monitor="val_my_acc", epochs=2, progress=False)
    assert sorted(history.last) == ["epoch", "lr", "seconds", "train_loss", "train_my_acc", "val_loss", "val_my_acc"]
    assert history.higher_is_better == {"my_acc": True, "loss": False}
    with pytest.raises(LayerlabError, match=r"^early stopping monitors 'val_f1', but this step measures only accuracy, "
                                            r"loss \(use val_<name> or train_<name>\)$"):
        fit(_net(), rows, val=rows, patience=1, monitor="val_f1", progress=False)
    assert len(fit(_net(), rows, monitor="val_f1", progress=False)) == 1     # without patience nothing reads it


def test_early_stopping_on_accuracy_keeps_the_most_accurate_epoch(rows: TensorData) -> None:
    model = _net(5)
    history = fit(model, rows, val=rows, lr=3.0, epochs=12, patience=2, monitor="val_accuracy", progress=False)
    best = max(history.series("val_accuracy"))
    assert evaluate(model, rows)["accuracy"] == best                          # higher is better for accuracy
    assert history.stopped_early and history.series("val_accuracy").index(best) == len(history) - 3


def test_a_step_brings_its_own_options_and_fit_says_which_ones_it_got(rows: TensorData) -> None:
    step = Supervised(_net(), optimizer="sgd", lr=0.1)
    for options, named in (({"lr": 0.1, "metrics": {}}, "lr, metrics"), ({"loss": "mse", "clip_grad_norm": 1.0}, "loss, clip_grad_norm"),
                           ({"optimizer": "adam"}, "optimizer"), ({"momentum": 0.9}, "them"), ({"amp": True}, "them"),
                           ({"compile": True}, "them"), ({"nesterov": True}, "them"), ({"weight_decay": 0.1}, "them")):
        with pytest.raises(LayerlabError) as err:
            fit(step, rows, progress=False, **options)
        assert str(err.value) == (f"a Supervised step owns its loss, optimizer and precision: set {named} when you "
                                  "build the step, not in fit()")
    with pytest.raises(LayerlabError, match=r"^fit trains an nn.Module or a Step, got str$"):
        fit("mlp", rows)
    with pytest.raises(LayerlabError, match=r"^epochs must be >= 0, got -1$"):
        fit(_net(), rows, epochs=-1)
    assert len(fit(_net(), rows, epochs=0)) == 0
    with pytest.raises(LayerlabError) as err:
        fit(_net(), BatchLoader(rows, 200, drop_last=True), progress=False)
    assert str(err.value) == "the training data produced no batches (is it empty, or smaller than one batch with drop_last?)"
    assert len(fit(_net(), [rows[:10]], progress=False)) == 1             # one batch is an epoch


def test_supervised_defaults_and_precision_options() -> None:
    step = Supervised(_net())
    sgd = step.optimizers["optimizer"]
    assert isinstance(sgd, torch.optim.SGD) and {k: sgd.defaults[k] for k in ("lr", "momentum", "nesterov", "weight_decay")} == {
        "lr": 0.1, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0}
    assert step.forward_model is step.model and not step.amp and not step.channels_last
    assert Supervised(_net(), optimizer=None).optimizers == {}


@pytest.mark.usefixtures("native_bf16")
def test_bf16_autocast_covers_the_forward_and_the_loss_on_the_cpu(rows: TensorData) -> None:
    ours, theirs = _net(6), _net(6)
    batch = rows[:32]
    values = Supervised(ours, amp=True).train(batch)
    opt = torch.optim.SGD(theirs.parameters(), lr=0.1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = F.cross_entropy(theirs(batch[0]), batch[1])
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert values["outputs"].dtype == torch.bfloat16 and values["loss"] == loss.detach()
    torch.testing.assert_close(ours.state_dict(), theirs.state_dict())
    scored = Supervised(ours, amp=True, optimizer=None).evaluate(batch)
    assert scored["outputs"].dtype == torch.float32                       # scores in float32 for the metrics


def test_channels_last_moves_conv_weights_and_4d_inputs_only() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    images = TensorData(torch.randn(8, 3, 6, 6), torch.randint(0, 2, (8,)))
    plain = copy.deepcopy(model)
    fit(model, images, channels_last=True, progress=False)
    fit(plain, images, progress=False)
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not plain[0].weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(model.state_dict(), plain.state_dict())   # a layout, not another computation
    stepped = copy.deepcopy(plain)
    fit(Supervised(stepped, channels_last=True), images, channels_last=True, progress=False)   # a Step is moved too
    assert stepped[0].weight.is_contiguous(memory_format=torch.channels_last)
    step = Supervised(model, channels_last=True)
    assert step._inputs(images.inputs).is_contiguous(memory_format=torch.channels_last)
    flat = torch.randn(8, 5)
    assert step._inputs(flat) is flat and Supervised(model)._inputs(images.inputs) is images.inputs


def test_a_model_without_parameters_predicts_on_the_cpu() -> None:
    data = TensorData(torch.arange(6.0).view(3, 2), torch.tensor([1, 1, 0]))
    outputs, targets = predict(nn.Identity(), data, batch_size=2)
    assert torch.equal(outputs, data.inputs) and torch.equal(targets, data.targets)
    assert evaluate(nn.Identity(), data, batch_size=2) == {"loss": pytest.approx(
        F.cross_entropy(data.inputs, data.targets).item()), "accuracy": pytest.approx(2 / 3)}


def test_to_device_moves_every_tensor_of_a_structured_batch() -> None:
    meta = torch.device("meta")
    batch = {"mask": torch.zeros(2, 3), "lengths": [torch.tensor(3), torch.tensor(2)], "ids": (torch.ones(1), "a")}
    moved = to_device(batch, meta)
    assert moved["mask"].device == meta and [t.device for t in moved["lengths"]] == [meta, meta]
    assert isinstance(moved["ids"], tuple) and moved["ids"][0].device == meta and moved["ids"][1] == "a"


class _NotesLayout(nn.Module):
    """A conv net that notes whether each input batch arrived in channels_last layout."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.seen = nn.Conv2d(3, 2, 3), []

    def forward(self, x):
        self.seen.append(x.is_contiguous(memory_format=torch.channels_last))
        return self.conv(x).mean(dim=(2, 3))


def test_channels_last_in_fit_hands_the_model_channels_last_inputs() -> None:
    images = TensorData(torch.randn(8, 3, 5, 5), torch.randint(0, 2, (8,)))
    for channels_last in (True, False):
        model = _NotesLayout()
        fit(model, images, batch_size=4, channels_last=channels_last, progress=False)
        assert model.seen == [channels_last] * 2


def test_evaluate_draws_the_same_transform_for_a_dataset_and_for_its_batches_as_a_list(rows: TensorData) -> None:
    # both draw from the generator of seed 0, epoch 0: a list of batches is scored like the dataset it came from
    def noisy(inputs, targets, g):
        return inputs + torch.randn(inputs.shape, generator=g), targets

    model = _net(9)
    as_data = evaluate(model, rows, batch_size=50, transform=noisy)
    as_list = evaluate(model, [rows[i : i + 50] for i in range(0, 150, 50)], transform=noisy)
    assert as_list == as_data and as_data != evaluate(model, rows)


def test_a_schedule_over_batches_without_a_length_is_a_one_line_error():
    import pytest
    import torch
    from layerlab.engine import fit
    from layerlab.errors import LayerlabError

    def batches():                      # a generator: fit cannot know how many iterations an epoch has
        yield torch.randn(4, 3), torch.tensor([0, 1, 0, 1])

    model = torch.nn.Linear(3, 2)
    with pytest.raises(LayerlabError, match=r"schedule 'cosine' steps every iteration .* has no len\(\)"):
        fit(model, batches(), schedule="cosine", progress=False)
    history = fit(model, [(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]))], schedule="cosine", epochs=2, progress=False)
    assert len(history) == 2             # a list has a length: the schedule knows its 2 steps
