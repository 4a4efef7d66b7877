"""fit must train exactly like a hand-written loop, resume exactly, and stop cleanly on NaN."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from layerlab.data import BatchLoader, TensorData
from layerlab.data.transforms import float_normalize
from layerlab.engine import RunDir, evaluate, fit, predict
from layerlab.engine.checkpoint import load_state
from layerlab.engine.metrics import MeanLoss, Metrics
from layerlab.engine.step import Step
from layerlab.engine.trainer_state import DivergenceError
from layerlab.errors import LayerlabError
from layerlab.models import get_model


@pytest.fixture
def tiny() -> TensorData:
    g = torch.Generator().manual_seed(0)
    inputs = torch.randn(96, 4, generator=g)
    targets = (inputs[:, 0] + inputs[:, 1] > 0).long() + (inputs[:, 2] > 1).long()
    return TensorData(inputs, targets, ("a", "b", "c"))


def test_fit_equals_a_hand_written_loop(tiny):
    torch.manual_seed(0)
    ours = get_model("mlp", sizes=(4, 8, 3))
    theirs = copy.deepcopy(ours)
    batches = [tiny[i : i + 16] for i in range(0, 96, 16)]          # fixed order, as by hand
    fit(ours, batches, loss="cross_entropy", optimizer="sgd", lr=0.1, epochs=2, device="cpu", progress=False)
    opt = torch.optim.SGD(theirs.parameters(), lr=0.1)
    for _ in range(2):
        for x, y in batches:
            opt.zero_grad()
            F.cross_entropy(theirs(x), y).backward()
            opt.step()
    torch.testing.assert_close(ours.state_dict(), theirs.state_dict())


def test_fit_with_adam_and_a_batch_loader_matches_a_hand_loop(tiny):
    torch.manual_seed(1)
    ours = get_model("mlp", sizes=(4, 8, 3))
    theirs = copy.deepcopy(ours)
    loader = BatchLoader(tiny, 32, shuffle=True, seed=5)
    fit(ours, loader, optimizer="adam", lr=1e-2, epochs=3, device="cpu", progress=False)
    opt = torch.optim.Adam(theirs.parameters(), lr=1e-2)
    for epoch in range(1, 4):
        loader.set_epoch(epoch)
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(theirs(x), y).backward()
            opt.step()
    torch.testing.assert_close(ours.state_dict(), theirs.state_dict())


def test_history_metrics_match_a_fresh_evaluation(tiny):
    torch.manual_seed(0)
    model = get_model("mlp", sizes=(4, 16, 3))
    history = fit(model, tiny, val=tiny, optimizer="adam", lr=1e-2, epochs=4, device="cpu", progress=False)
    assert [row["epoch"] for row in history.epochs] == [1, 2, 3, 4]
    fresh = evaluate(model, tiny, loss="cross_entropy")
    assert history.last["val_accuracy"] == pytest.approx(fresh["accuracy"])
    assert history.last["val_loss"] == pytest.approx(fresh["loss"], rel=1e-5)
    assert history.series("train_loss")[-1] < history.series("train_loss")[0]


def test_regression_metrics_are_rmse_and_mae():
    model = torch.nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(1.0)
        model.bias.fill_(0.0)
    data = TensorData(torch.tensor([[1.0], [2.0], [3.0], [4.0]]), torch.tensor([[1.0], [2.0], [3.0], [6.0]]))
    metrics = evaluate(model, data, loss="mse")
    assert metrics["rmse"] == pytest.approx(1.0)     # errors 0, 0, 0, -2: sqrt(4/4)
    assert metrics["mae"] == pytest.approx(0.5)
    assert metrics["loss"] == pytest.approx(1.0)


def test_divergence_stops_with_one_line_naming_epoch_iteration_and_lr(tiny, tmp_path):
    torch.manual_seed(0)
    model = get_model("mlp", sizes=(4, 8, 3))
    data = TensorData(tiny.inputs, torch.randn(96, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    run = RunDir.create(tmp_path, "lab", {})

    def raise_the_rate_after_epoch_1(row: dict) -> None:
        for group in opt.param_groups:
            group["lr"] = 1e6

    with pytest.raises(DivergenceError, match=r"epoch \d, iteration \d+ with learning rate 1e\+06") as info:
        fit(model, data, loss="mse", optimizer=opt, epochs=3, device="cpu", progress=False, run=run,
            log=raise_the_rate_after_epoch_1)
    assert "\n" not in str(info.value)
    kept = load_state(run.checkpoint_path())
    bad_epoch = int(str(info.value).split("at epoch ")[1].split(",")[0])
    assert kept["epoch"] == bad_epoch - 1 >= 1                  # the last good checkpoint is intact
    assert all(torch.isfinite(v).all() for v in kept["models"]["model"].values())


def test_early_stopping_stops_and_restores_the_best_weights(tiny):
    torch.manual_seed(0)
    model = get_model("mlp", sizes=(4, 64, 3))
    noisy = TensorData(tiny.inputs, torch.randint(0, 3, (96,), generator=torch.Generator().manual_seed(1)))
    history = fit(model, noisy, val=tiny, optimizer="adam", lr=0.05, epochs=60, patience=3,
                  monitor="val_loss", device="cpu", progress=False)
    assert history.stopped_early and len(history) < 60
    best = min(history.series("val_loss"))
    assert evaluate(model, tiny)["loss"] == pytest.approx(best, rel=1e-5)


class _Killed(Exception):
    pass


def test_resume_in_process_matches_an_uninterrupted_run(tiny, tmp_path):
    def train(run: RunDir, stop_after: int | None = None) -> torch.nn.Module:
        torch.manual_seed(0)
        model = get_model("mlp", sizes=(4, 8, 3), dropout=0.3)   # dropout: RNG state must be restored

        def kill(row: dict) -> None:
            if row["epoch"] == stop_after:
                raise _Killed

        fit(model, tiny, optimizer="sgd", lr=0.1, momentum=0.9, schedule="cosine", epochs=4,
            device="cpu", progress=False, run=run, seed=3, log=kill)
        return model

    whole = train(RunDir.create(tmp_path / "a", "lab", {}))
    run = RunDir.create(tmp_path / "b", "lab", {})
    with pytest.raises(_Killed):
        train(run, stop_after=2)
    resumed = train(run)
    torch.testing.assert_close(resumed.state_dict(), whole.state_dict())
    rows = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]


def test_bad_options_are_clear_errors(tiny):
    model = get_model("mlp", sizes=(4, 8, 3))
    with pytest.raises(LayerlabError, match="learning rate must be positive"):
        fit(model, tiny, lr=-1, progress=False)
    with pytest.raises(LayerlabError, match="unknown optimizer 'adma'; did you mean adam"):
        fit(model, tiny, optimizer="adma", progress=False)
    with pytest.raises(LayerlabError, match="unknown loss"):
        fit(model, tiny, loss="cross-entropyy", progress=False)


@pytest.mark.parametrize("schedule", ["step", "cosine", "one-cycle", "multistep", "warmup-multistep"])
def test_schedules_change_the_rate_every_iteration_and_the_log_shows_each_epochs_end(tiny, schedule):
    model = get_model("mlp", sizes=(4, 8, 3))
    history = fit(model, tiny, optimizer="sgd", lr=0.1, epochs=3, schedule=schedule, batch_size=8, device="cpu", progress=False)
    ends = [12, 24, 36]                                   # 96 rows in batches of 8: 12 steps an epoch
    if schedule == "step":                                # x0.1 every 10 epochs: not yet within 3
        expected = [0.1, 0.1, 0.1]
    elif schedule in ("multistep", "warmup-multistep"):  # /10 after step 18 (50%) and step 27 (75%)
        expected = [0.1, 0.01, 0.001]                     # (the warm-up is over after step 1 of 36)
    elif schedule == "cosine":                            # 0.1 -> 0 over all 36 steps
        expected = [0.05 * (1 + math.cos(math.pi * s / 36)) for s in ends]
    else:                                                 # torch's OneCycleLR, stepped 12, 24, 36 times
        reference = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        cycle = torch.optim.lr_scheduler.OneCycleLR(reference, max_lr=0.1, total_steps=36, pct_start=0.25)
        expected = []
        for step in range(1, 37):
            reference.step()
            cycle.step()
            if step in ends:
                expected.append(reference.param_groups[0]["lr"])
    assert history.series("lr") == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_warmup_multistep_rises_from_a_tenth_over_the_first_5_percent():
    from layerlab.engine.optim import get_schedule

    opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
    schedule = get_schedule("warmup-multistep", opt, 100, 2)   # 200 steps: warm-up 10, then /10 at 100 and 150
    rates = []
    for _ in range(200):
        rates.append(opt.param_groups[0]["lr"])               # the rate of this optimizer step
        opt.step()
        schedule.step()
    assert rates[0] == pytest.approx(0.01) and rates[5] == pytest.approx(0.1 * (0.1 + 0.9 * 5 / 10))
    assert rates[10] == rates[99] == pytest.approx(0.1)
    assert rates[100] == rates[149] == pytest.approx(0.01) and rates[150] == rates[199] == pytest.approx(0.001)


def test_decay_last_epoch_holds_the_rate_then_falls_linearly_to_zero_over_the_last_epoch():
    from layerlab.engine.optim import get_schedule

    opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.2)
    schedule = get_schedule("decay-last-epoch", opt, 40, 3)   # 120 steps: the last 40 fall to 0
    rates = []
    for _ in range(120):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    assert rates[0] == rates[80] == pytest.approx(0.2)       # the full rate through step 80 (of 0..119)
    assert rates[81] == pytest.approx(0.2 * 39 / 40) and rates[100] == pytest.approx(0.2 * 20 / 40)
    assert rates[119] == pytest.approx(0.2 / 40)              # the last step: 1/40 of the rate
    assert opt.param_groups[0]["lr"] == 0.0                   # after it


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5, 7, 40])
def test_one_cycle_runs_any_number_of_steps_and_peaks_at_the_given_rate(steps):
    from layerlab.engine.optim import get_schedule

    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    schedule = get_schedule("one-cycle", opt, steps, 1)
    rates = [opt.param_groups[0]["lr"]]
    for _ in range(steps):
        opt.step()
        schedule.step()
        rates.append(opt.param_groups[0]["lr"])
    used = rates[:steps]                                   # the rate of each optimizer step
    assert max(used) <= 0.5 + 1e-12
    if steps >= 3:                                         # warms up to the rate, anneals far below it
        assert max(used) == pytest.approx(0.5)
        assert used[0] < 0.5 and used[-1] < 0.5 * 1e-2


def test_accuracy_is_the_same_however_often_it_reduces_held_logits(monkeypatch):
    from layerlab.engine.metrics import Accuracy

    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(n, 5, generator=g), torch.randint(0, 5, (n,), generator=g)) for n in (7, 16, 16, 3)]
    expected = sum((x.argmax(1) == y).sum().item() for x, y in batches) / 42
    for flush in (1, 50, 1 << 22):
        monkeypatch.setattr(Accuracy, "FLUSH", flush)
        metric = Accuracy()
        for x, y in batches:
            metric.update(x, y)
        assert metric.compute() == pytest.approx(expected)
    sequences = [(torch.randn(2, 5, t, generator=g), torch.randint(0, 5, (2, t), generator=g)) for t in (3, 4, 4)]
    expected = sum((x.argmax(1) == y).sum().item() for x, y in sequences) / (2 * 11)
    for flush in (1, 35, 1 << 22):                         # per-position logits of different lengths
        monkeypatch.setattr(Accuracy, "FLUSH", flush)
        metric = Accuracy()
        for x, y in sequences:
            metric.update(x, y)
        assert metric.compute() == pytest.approx(expected)


class NanAfter(nn.CrossEntropyLoss):
    """Cross-entropy that turns NaN from its `bad`-th call on (a diverging run, on cue)."""

    def __init__(self, bad: int) -> None:
        super().__init__()
        self.bad, self.calls = bad, 0

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        loss = super().forward(logits, targets)
        return loss * float("nan") if self.calls >= self.bad else loss


@pytest.mark.parametrize("classes", [3, 5000])   # small logits: chunks of many batches; big: one batch a chunk
def test_a_loss_that_turns_nan_mid_epoch_is_named_and_stops_the_epoch_early(classes):
    loss = NanAfter(300)
    g = torch.Generator().manual_seed(0)
    data = TensorData(torch.randn(2000, 4, generator=g), torch.randint(0, classes, (2000,), generator=g))
    model = nn.Linear(4, classes)
    with pytest.raises(DivergenceError, match="epoch 1, iteration 300 with learning rate 0.01"):
        fit(model, data, loss=loss, optimizer="sgd", lr=0.01, batch_size=1, device="cpu", progress=False)
    assert loss.calls == 512                      # the check after step 512 (2 x 256) stops it, not after 2,000 steps


def test_in_a_terminal_the_loss_read_for_the_bar_stops_a_nan_at_once(monkeypatch, capsys):
    from layerlab.engine import progress

    loss = NanAfter(100)
    monkeypatch.setattr(progress, "_interactive", lambda stream: True)
    monkeypatch.setattr(progress.EpochProgress, "due", lambda self: True)   # a redraw every step
    g = torch.Generator().manual_seed(0)
    data = TensorData(torch.randn(1000, 4, generator=g), torch.randint(0, 3, (1000,), generator=g))
    with pytest.raises(DivergenceError, match="epoch 1, iteration 100 with"):
        fit(nn.Linear(4, 3), data, loss=loss, optimizer="sgd", lr=0.01, batch_size=1, device="cpu")
    assert loss.calls == 100                             # not one step more
    assert "\r" in capsys.readouterr().out                   # it did draw in place


def test_divergence_after_the_periodic_checks_still_names_its_iteration():
    from layerlab.engine.trainer_state import check_finite

    losses = [torch.tensor(0.5)] * 300 + [torch.tensor(float("nan"))]
    check_finite(losses[:300], 2, 0.1)                      # all finite so far
    with pytest.raises(DivergenceError, match="epoch 2, iteration 301 with learning rate 0.1"):
        check_finite(losses[256:], 2, 0.1, first=257)       # a later chunk of the epoch


class _TwoLosses(Step):
    """A step with two watched losses, "a" and "b", that turn NaN from iterations `bad_a` and `bad_b` on;
    it has no optimizer, and it notes the device each batch arrives on."""

    loss_keys = ("a", "b")

    def __init__(self, bad_a: int = 10**9, bad_b: int = 10**9) -> None:
        self.models, self.optimizers = {"model": nn.Linear(1, 1)}, {}
        self.bad_a, self.bad_b, self.calls, self.devices = bad_a, bad_b, 0, []

    def train(self, batch):
        self.calls += 1
        a, b = (torch.tensor(float("nan") if self.calls >= bad else 1.0) for bad in (self.bad_a, self.bad_b))
        return {"a": a, "b": b, "count": len(batch[1])}

    def evaluate(self, batch):
        self.devices.append((batch[0].device.type, batch[1].device.type))
        return {"a": torch.tensor(1.0), "b": torch.tensor(2.0), "count": len(batch[1])}

    def metrics(self) -> Metrics:
        return Metrics({"a": MeanLoss("a"), "b": MeanLoss("b")})


def _steps(n: int) -> TensorData:
    return TensorData(torch.zeros(n, 1), torch.zeros(n))  # batch_size=1: n iterations an epoch


@pytest.mark.parametrize("n, bad, live", [(320, 300, False),   # caught by the check at the epoch's end
                                          (600, 300, False),   # by the periodic check after step 512
                                          (600, 300, True)])   # by the loss the terminal's bar reads
def test_the_divergence_error_names_the_iteration_of_a_two_loss_step_after_a_periodic_check(monkeypatch, n, bad, live):
    # both checks see the losses since iteration 257: two per iteration, "b" bad first at iteration `bad`
    from layerlab.engine import progress

    if live:
        monkeypatch.setattr(progress, "_interactive", lambda stream: True)
        monkeypatch.setattr(progress.EpochProgress, "due", lambda self: True)
    step = _TwoLosses(bad_a=bad + 1 if live else 10**9, bad_b=bad)  # live: the bar reads "a", bad one step later
    with pytest.raises(DivergenceError, match=rf"the loss became nan at epoch 1, iteration {bad} with learning rate nan"):
        fit(step, _steps(n), batch_size=1, device="cpu", progress=live)
    assert step.calls == {(320, False): 320, (600, False): 512, (600, True): bad + 1}[(n, live)]


def test_a_step_without_an_optimizer_logs_its_rate_as_nan():
    history = fit(_TwoLosses(), _steps(4), batch_size=2, device="cpu", progress=False)
    assert math.isnan(history.last["lr"]) and history.last["train_a"] == 1.0


def test_evaluate_moves_every_batch_to_the_device_it_is_given():
    step = _TwoLosses()
    evaluate(step, _steps(3), batch_size=2, device="meta")  # the meta device: a real move, without a GPU
    evaluate(step, [_steps(3)[:2], _steps(3)[2:]], device="meta")  # a list of batches is moved too
    assert step.devices == [("meta", "meta")] * 4


class _Seen(Exception):
    pass


class _OnMeta(nn.Module):
    """A model whose weights live on the meta device: it says where its input arrived and stops."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, device="meta"))

    def forward(self, x):
        raise _Seen(x.device.type)


def test_predict_runs_the_batches_on_the_models_device():
    with pytest.raises(_Seen, match="^meta$"):
        predict(_OnMeta(), _steps(3))


def test_the_seconds_column_is_the_epochs_time_to_the_millisecond(monkeypatch):
    from layerlab.engine.progress import EpochProgress

    monkeypatch.setattr(EpochProgress, "elapsed", lambda self: 1.23456)
    data = TensorData(torch.zeros(4, 1), torch.zeros(4, dtype=torch.long))
    assert fit(nn.Linear(1, 2), data, device="cpu", progress=False).last["seconds"] == 1.235


def test_a_resumed_stage_trains_only_the_epochs_it_has_not_finished(tiny, tmp_path):
    run = RunDir.create(tmp_path, "lab", {})
    epochs: list[int] = []

    def train(stop_after: int | None = None) -> None:
        torch.manual_seed(0)

        def log(row: dict) -> None:
            epochs.append(row["epoch"])
            if row["epoch"] == stop_after:
                raise _Killed

        fit(get_model("mlp", sizes=(4, 8, 3)), tiny, epochs=4, device="cpu", progress=False, run=run, stage="scratch", log=log)

    with pytest.raises(_Killed):
        train(stop_after=2)
    train()
    assert epochs == [1, 2, 3, 4] and (run.path / "checkpoint-scratch.pt").exists()


class _HearsEpochs(nn.Module):
    """An MLP that records the epochs fit announces to it (models/cifar_fast.py freezes its stem's bias so)."""

    def __init__(self) -> None:
        super().__init__()
        self.net, self.heard = get_model("mlp", sizes=(4, 8, 3)), []

    def set_epoch(self, epoch: int) -> None:
        self.heard.append(epoch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def test_a_model_with_set_epoch_hears_each_epoch_as_it_starts_and_a_resumed_run_the_ones_it_trains(tiny, tmp_path):
    run = RunDir.create(tmp_path, "lab", {})
    first = _HearsEpochs()

    with pytest.raises(_Killed):
        fit(first, tiny, epochs=4, device="cpu", progress=False, run=run, log=_kill_after(2))
    resumed = _HearsEpochs()
    fit(resumed, tiny, epochs=4, device="cpu", progress=False, run=run)
    assert first.heard == [1, 2] and resumed.heard == [3, 4]


def test_a_monitor_without_its_train_or_val_prefix_is_one_line(tiny):
    with pytest.raises(LayerlabError, match=r"^early stopping monitors 'loss', but the epoch reports only \['epoch', 'lr', "
                                            r"'seconds', 'train_accuracy', 'train_loss', 'val_accuracy', 'val_loss'\]$"):
        fit(get_model("mlp", sizes=(4, 8, 3)), tiny, val=tiny, patience=1, monitor="loss", device="cpu", progress=False)


def test_fit_scores_uint8_validation_images_with_the_training_statistics():
    g = torch.Generator().manual_seed(0)
    pixels, labels = torch.randint(0, 256, (16, 1, 2, 2), generator=g, dtype=torch.uint8), torch.randint(0, 2, (16,), generator=g)
    train = TensorData(pixels, labels, meta={"mean": (0.5,), "std": (0.25,)})
    val = TensorData(pixels.flip(0), labels.flip(0), meta={"mean": (0.1,), "std": (1.0,)})  # its own numbers: not used
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    history = fit(model, train, val=val, device="cpu", progress=False)
    with_train_stats = evaluate(model, val, transform=float_normalize((0.5,), (0.25,)))
    assert history.last["val_loss"] == with_train_stats["loss"] != evaluate(model, val)["loss"]


def test_end_epoch_runs_after_each_epochs_steps_and_before_its_checkpoint(tiny, tmp_path):
    """A step's once-an-epoch work (a GAN's averaged generator measures its batch-norm statistics)
    lands in the checkpoint of the epoch it ends, and a resumed run does it for the epochs it trains."""

    class Counts(_TwoLosses):
        def __init__(self) -> None:
            super().__init__()
            self.models["model"].register_buffer("ended", torch.zeros(()))
            self.seen: list[tuple[int, int]] = []

        def end_epoch(self) -> None:
            self.models["model"].ended += 1
            self.seen.append((int(self.models["model"].ended), self.calls))

    run = RunDir.create(tmp_path, "lab", {})
    first = Counts()

    with pytest.raises(_Killed):
        fit(first, tiny, epochs=3, batch_size=32, device="cpu", progress=False, run=run, log=_kill_after(2))
    assert first.seen == [(1, 3), (2, 6)]                   # after each epoch's 3 steps
    assert float(load_state(run.checkpoint_path("main"))["models"]["model"]["ended"]) == 2.0
    resumed = Counts()
    fit(resumed, tiny, epochs=3, batch_size=32, device="cpu", progress=False, run=run)
    assert resumed.seen == [(3, 3)]                         # restored at 2, then the third epoch's end


def _kill_after(epoch: int):
    """A `log` callback that stops `fit` once `epoch` is checkpointed, as a kill would."""
    def log(row: dict) -> None:
        if row["epoch"] == epoch:
            raise _Killed
    return log
