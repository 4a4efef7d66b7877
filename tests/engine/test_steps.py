"""The step protocol: a two-model step trains and resumes exactly; each silent wrong number of the
old engine now fails loudly or comes out right."""

from __future__ import annotations

import copy
import math
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from layerlab.data import BatchLoader, TensorData
from layerlab.engine import RunDir, Supervised, evaluate, fit
from layerlab.engine.checkpoint import load_state
from layerlab.engine.metrics import MeanLoss, RMSE
from layerlab.errors import LayerlabError
from layerlab.models import get_model
from tests.helpers.steps import TinyGan, ring, train_in

REPO = Path(__file__).resolve().parents[2]


def test_a_two_model_step_trains_both_and_logs_both_losses(tmp_path):
    step = TinyGan()
    before = {name: [p.clone() for p in m.parameters()] for name, m in step.models.items()}
    history = fit(step, ring(), val=ring(64), epochs=2, batch_size=16, device="cpu", progress=False,
                  run=RunDir.create(tmp_path, "gan", {}))
    assert set(history.last) >= {"train_d_loss", "train_g_loss", "val_d_loss", "val_g_loss", "lr"}
    for name, model in step.models.items():
        assert any(not torch.equal(a, b) for a, b in zip(before[name], model.parameters())), name
    weights = load_file(str(next(tmp_path.glob("gan/*/model.safetensors"))))
    assert {k.split(".")[0] for k in weights} == {"generator", "discriminator"}


def test_a_two_optimizer_step_killed_with_sigkill_resumes_to_the_same_weights(tmp_path):
    whole = train_in(str(tmp_path / "whole"), epochs=6, pause=0.0)
    folder = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    proc = subprocess.Popen([sys.executable, "-m", "tests.helpers.steps", str(folder), "6", "0.5"], cwd=REPO, env=env)
    deadline = time.time() + 60
    while time.time() < deadline and not (folder / "checkpoint.pt").exists():
        time.sleep(0.02)
    time.sleep(0.1)                                       # let the atomic write land, then kill mid-run
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 1 <= load_state(folder / "checkpoint.pt")["epoch"] < 6
    resumed = train_in(str(folder), epochs=6, pause=0.0)
    for name in whole.models:
        torch.testing.assert_close(resumed.models[name].state_dict(), whole.models[name].state_dict(), rtol=0, atol=0)
    for name in whole.optimizers:
        ours, theirs = resumed.optimizers[name].state_dict()["state"], whole.optimizers[name].state_dict()["state"]
        for key in theirs:
            torch.testing.assert_close(ours[key]["exp_avg"], theirs[key]["exp_avg"], rtol=0, atol=0)


class _Stop(Exception):
    pass


class Batches:
    """An iterable of batches (not a BatchLoader) whose order is a function of (seed, epoch)."""

    def __init__(self, data: TensorData) -> None:
        self.data, self.epoch = data, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return 6

    def __iter__(self):
        order = torch.randperm(len(self.data), generator=torch.Generator().manual_seed(self.epoch))
        for start in range(0, len(order), 16):
            yield self.data[order[start : start + 16]]


def _noisy(inputs, targets, generator):                  # a random transform: its draws must resume too
    return inputs + 0.1 * torch.randn(inputs.shape, generator=generator), targets


def test_an_iterable_of_batches_with_a_random_transform_resumes_exactly(tmp_path):
    g = torch.Generator().manual_seed(0)
    data = TensorData(torch.randn(96, 4, generator=g), torch.randint(0, 3, (96,), generator=g))

    def train(run: RunDir, stop_after: int | None = None) -> nn.Module:
        torch.manual_seed(0)
        model = get_model("mlp", sizes=(4, 8, 3))

        def stop(row: dict) -> None:
            if row["epoch"] == stop_after:
                raise _Stop

        fit(model, Batches(data), optimizer="adam", lr=1e-2, epochs=4, transform=_noisy, device="cpu",
            progress=False, run=run, seed=3, log=stop)
        return model

    whole = train(RunDir.create(tmp_path / "a", "lab", {}))
    run = RunDir.create(tmp_path / "b", "lab", {})
    with pytest.raises(_Stop):
        train(run, stop_after=2)
    torch.testing.assert_close(train(run).state_dict(), whole.state_dict(), rtol=0, atol=0)


def test_bce_accuracy_thresholds_probabilities_at_one_half_and_logits_at_zero():
    inputs = torch.zeros(8, 1)
    targets = torch.tensor([0.0, 0, 0, 0, 0, 0, 1, 1])
    probabilities = nn.Sequential(nn.Linear(1, 1), nn.Sigmoid())
    with torch.no_grad():
        probabilities[0].weight.zero_()
        probabilities[0].bias.fill_(-0.85)               # sigmoid(-0.85) = 0.30: every answer "no"
    data = TensorData(inputs, targets.unsqueeze(1))
    assert evaluate(probabilities, data, loss="bce")["accuracy"] == 0.75          # 6 of 8 are 0
    assert evaluate(probabilities[0], data, loss="bce_with_logits")["accuracy"] == 0.75   # logit -0.85 < 0


def test_regression_with_the_wrong_output_width_is_an_error_not_a_slice():
    data = TensorData(torch.randn(8, 3), torch.randn(8, 1))
    with pytest.raises(LayerlabError, match=r"gives \(8, 2\) and the targets are \(8, 1\)"):
        with pytest.warns(UserWarning):                   # torch's own broadcasting warning; the metric stops it
            evaluate(nn.Linear(3, 2), data, loss="mse")


def test_an_unknown_loss_module_reports_its_mean_only():
    class Hinge(nn.Module):
        def forward(self, outputs, targets):
            return torch.relu(1 - outputs.squeeze(1) * targets).mean()

    data = TensorData(torch.randn(10, 3), torch.ones(10))
    metrics = evaluate(nn.Linear(3, 1), data, loss=Hinge())
    assert set(metrics) == {"loss"}                     # no RMSE of a hinge: nothing was guessed
    assert set(evaluate(nn.Linear(3, 1), data, loss=Hinge(), metrics={"loss": MeanLoss(), "rmse": RMSE()})) == {"loss", "rmse"}


def test_early_stopping_leaves_the_reported_weights_in_model_safetensors(tmp_path):
    g = torch.Generator().manual_seed(1)
    data = TensorData(torch.randn(96, 4, generator=g), torch.randint(0, 3, (96,), generator=g))
    val = TensorData(torch.randn(48, 4, generator=g), torch.randint(0, 3, (48,), generator=g))
    torch.manual_seed(0)
    model = get_model("mlp", sizes=(4, 64, 3))
    run = RunDir.create(tmp_path, "lab", {})
    history = fit(model, data, val=val, optimizer="adam", lr=0.05, epochs=40, patience=3, device="cpu",
                  progress=False, run=run)
    assert history.stopped_early
    best = min(history.series("val_loss"))
    saved = get_model("mlp", sizes=(4, 64, 3))
    saved.load_state_dict(load_file(str(run.weights_path())))
    assert evaluate(saved, val)["loss"] == pytest.approx(best, rel=1e-6)
    assert history.last["val_loss"] > best                # the last epoch was worse: the file was rewritten


def test_patience_without_an_early_stop_still_restores_the_best_epoch():
    g = torch.Generator().manual_seed(1)
    data = TensorData(torch.randn(96, 4, generator=g), torch.randint(0, 3, (96,), generator=g))
    val = TensorData(torch.randn(48, 4, generator=g), torch.randint(0, 3, (48,), generator=g))
    torch.manual_seed(0)
    model = get_model("mlp", sizes=(4, 64, 3))
    history = fit(model, data, val=val, optimizer="adam", lr=0.05, epochs=8, patience=100, device="cpu", progress=False)
    assert not history.stopped_early
    best = min(history.series("val_loss"))
    assert history.last["val_loss"] != best               # the best epoch was not the last one
    assert evaluate(model, val)["loss"] == pytest.approx(best, rel=1e-6)


def test_early_stopping_on_accuracy_keeps_the_highest_not_the_lowest():
    g = torch.Generator().manual_seed(2)
    data = TensorData(torch.randn(96, 4, generator=g), torch.randint(0, 3, (96,), generator=g))
    torch.manual_seed(0)
    model = get_model("mlp", sizes=(4, 64, 3))
    history = fit(model, data, val=data, optimizer="adam", lr=0.01, epochs=12, patience=50, monitor="val_accuracy",
                  device="cpu", progress=False)
    assert history.higher_is_better["accuracy"] and not history.higher_is_better["loss"]
    assert evaluate(model, data)["accuracy"] == max(history.series("val_accuracy")) > history.series("val_accuracy")[0]


class _RecordsAutocastInBackward(torch.autograd.Function):
    seen: list[bool] = []

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        _RecordsAutocastInBackward.seen.append(torch.is_autocast_enabled("cpu"))
        return grad


class _Probe(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, x):
        return _RecordsAutocastInBackward.apply(self.linear(x))


@pytest.mark.usefixtures("native_bf16")
def test_autocast_covers_the_forward_and_the_loss_but_not_backward():
    _RecordsAutocastInBackward.seen.clear()
    data = TensorData(torch.randn(32, 4), torch.randint(0, 3, (32,)))
    model = _Probe()
    history = fit(model, data, optimizer="sgd", lr=0.1, epochs=1, batch_size=16, amp=True, device="cpu", progress=False)
    assert _RecordsAutocastInBackward.seen == [False, False]          # two steps, both backward passes in fp32
    assert model.linear.weight.dtype == torch.float32 and history.last["train_loss"] > 0


def test_the_lr_column_is_the_rate_at_the_epochs_end():
    data = TensorData(torch.randn(64, 4), torch.randint(0, 3, (64,)))
    model = get_model("mlp", sizes=(4, 8, 3))
    step = Supervised(model, optimizer="sgd", lr=0.1)
    fit(step, data, epochs=2, batch_size=16, schedule="cosine", device="cpu", progress=False)
    expected = [0.05 * (1 + math.cos(math.pi * s / 8)) for s in (4, 8)]     # after steps 4 and 8 of 8
    history = fit(get_model("mlp", sizes=(4, 8, 3)), data, optimizer="sgd", lr=0.1, epochs=2, batch_size=16,
                  schedule="cosine", device="cpu", progress=False)
    assert history.series("lr") == pytest.approx(expected, abs=1e-12)
    assert step.optimizers["optimizer"].param_groups[0]["lr"] == pytest.approx(expected[-1], abs=1e-12)


def test_a_step_owns_its_optimizer_so_fit_rejects_optimizer_options():
    with pytest.raises(LayerlabError, match="owns its loss, optimizer and precision: set optimizer, lr"):
        fit(TinyGan(), ring(), optimizer="adam", lr=0.1, device="cpu", progress=False)


def test_early_stopping_on_a_metric_the_step_does_not_measure_is_one_line():
    with pytest.raises(LayerlabError, match="monitors 'val_accuracy', but this step measures only d_loss, g_loss"):
        fit(TinyGan(), ring(), val=ring(), patience=2, monitor="val_accuracy", device="cpu", progress=False)


def test_a_batch_loader_is_used_as_given():
    data = TensorData(torch.randn(40, 4), torch.randint(0, 3, (40,)))
    loader = BatchLoader(data, 8, shuffle=True, seed=1)
    history = fit(nn.Linear(4, 3), loader, epochs=1, device="cpu", progress=False)
    assert history.last["epoch"] == 1 and history.last["train_accuracy"] * 40 == round(history.last["train_accuracy"] * 40)


class _MseOfY(nn.Module):
    """A loss that reads its targets from a dict: {"y": (B, 1)}."""

    def forward(self, outputs, targets):
        return F.mse_loss(outputs, targets["y"])


def test_dict_targets_weigh_each_batch_by_its_samples_not_its_keys():
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    x, y = torch.randn(4, 2), torch.randn(4, 1)
    batches = [(x[:3], {"y": y[:3]}), (x[3:], {"y": y[3:]})]  # 3 samples and 1: a dict of one key each
    step = Supervised(model, loss=_MseOfY(), metrics={"loss": MeanLoss()}, optimizer=None)
    assert evaluate(step, batches) == {"loss": pytest.approx(F.mse_loss(model(x), y).item())}
    before = copy.deepcopy(model)
    values = Supervised(model, loss=_MseOfY(), lr=0.1).train((x, {"y": y}))  # training reads dict targets too
    assert values["count"] == 4 and values["loss"] == F.mse_loss(before(x), y)
    assert not torch.equal(model.weight, before.weight)


def test_a_layer_frozen_between_two_fits_stays_exactly_as_it_was():
    # zero_grad(set_to_none=True) drops the frozen layer's old gradient, so SGD's momentum cannot move it
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    data = TensorData(torch.randn(64, 4), torch.randint(0, 3, (64,)))
    step = Supervised(model, optimizer="sgd", lr=0.1, momentum=0.9)
    fit(step, data, batch_size=16, device="cpu", progress=False)  # every layer trains
    model[0].requires_grad_(False)
    frozen, head = model[0].weight.clone(), model[2].weight.clone()
    fit(step, data, batch_size=16, device="cpu", progress=False)
    assert torch.equal(model[0].weight, frozen) and not torch.equal(model[2].weight, head)


def test_step_to_moves_every_model_and_changes_the_layout_only_when_asked():
    gan = TinyGan()
    assert gan.to(torch.device("meta")) is gan and gan.device.type == "meta"  # the meta device: a move without a GPU
    assert {p.device.type for m in gan.models.values() for p in m.parameters()} == {"meta"}
    conv = nn.Conv2d(3, 4, 3)
    Supervised(conv).to(torch.device("cpu"))
    assert not conv.weight.is_contiguous(memory_format=torch.channels_last)  # NCHW unless channels_last is asked for
    Supervised(conv).to(torch.device("meta"), channels_last=True)
    assert conv.weight.device.type == "meta" and conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_train_mode_switches_every_model_and_defaults_to_training():
    gan = TinyGan()
    gan.train_mode(False)
    assert not any(m.training for m in gan.models.values())
    gan.train_mode()
    assert all(m.training for m in gan.models.values())


def test_compile_wraps_the_forward_model_and_keeps_the_plain_one_for_the_weights():
    model = nn.Linear(4, 3)
    step = Supervised(model, compile=True)  # torch.compile is lazy: nothing compiles until the first call
    assert step.model is model and step.forward_model is not model and step.forward_model.fast._orig_mod is model


def test_a_compile_that_fails_says_so_in_one_line_and_how_to_go_on(monkeypatch):
    model, batch = nn.Linear(4, 3), (torch.randn(8, 4), torch.randint(0, 3, (8,)))
    failure = torch._dynamo.exc.BackendCompilerFailed.__new__(torch._dynamo.exc.BackendCompilerFailed)
    failure.inner_exception = RuntimeError("InvalidCxxCompiler: No working C++ compiler found in torch._inductor\n(more)")

    def broken(*args):
        raise failure

    monkeypatch.setattr(torch, "compile", lambda module: broken)        # compiles, then fails at the first call
    step = Supervised(model, compile=True)
    with pytest.raises(LayerlabError, match=r"^torch.compile could not compile Linear \(InvalidCxxCompiler: No working C\+\+ "
                                            r"compiler found in torch._inductor\); train without --compile \(compile=False\)"):
        step.train(batch)

    def unsupported(module):
        raise RuntimeError("Dynamo is not supported on Python 3.99+")

    monkeypatch.setattr(torch, "compile", unsupported)                  # refused before anything runs
    with pytest.raises(LayerlabError, match=r"^torch.compile could not compile Linear \(Dynamo is not supported on Python 3.99\+\)"):
        Supervised(model, compile=True)
    assert Supervised(model).train(batch)["loss"] > 0                   # without compile it trains


@pytest.mark.usefixtures("native_bf16")
def test_evaluate_scores_under_bf16_autocast_when_amp_is_on():
    torch.manual_seed(0)
    model, x, y = nn.Linear(4, 3), torch.randn(32, 4), torch.randint(0, 3, (32,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        by_hand = F.cross_entropy(model(x).float(), y)
    scored = Supervised(model, amp=True, optimizer=None).evaluate((x, y))
    assert scored["loss"] == by_hand and scored["loss"] != F.cross_entropy(model(x), y)


@pytest.mark.usefixtures("native_bf16")
def test_amp_means_bf16_on_a_gpu_too():
    # CUDA's own autocast default is fp16, which would need a gradient scaler this loop does not have
    from layerlab.engine.step import autocast

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # without a GPU torch warns and disables it; the dtype is still chosen
        assert autocast(torch.device("cuda"), True).fast_dtype == torch.bfloat16
    assert autocast(torch.device("cpu"), True).fast_dtype == torch.bfloat16


def test_dict_targets_of_different_lengths_are_one_line():
    model, x = nn.Linear(2, 1), torch.randn(4, 2)
    step = Supervised(model, loss=_MseOfY(), optimizer=None)
    with pytest.raises(LayerlabError, match=r"^targets\['w'\] has 2 rows but targets hold 4 samples; every tensor needs one row per sample$"):
        step.evaluate((x, {"y": torch.randn(4, 1), "w": torch.zeros(2)}))


def test_uint8_images_reaching_a_model_are_one_line_naming_the_fix():
    step = Supervised(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)))
    batch = (torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.zeros(2, dtype=torch.long))
    with pytest.raises(LayerlabError) as caught:
        step.train(batch)
    assert str(caught.value) == (
        "the model was given uint8 images (0..255): convert them first, e.g. fit(..., transform=float_normalize("
        "train.meta['mean'], train.meta['std'])) from layerlab.data.transforms, or leave transform= unset and fit does it")


def test_amp_trains_in_float32_where_the_cpu_only_emulates_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    # an AVX2 CPU emulates bf16 (a 1024x1024 matmul: 2.6 s against 17 ms in float32): amp must not cost that
    from layerlab.engine import step as steps
    from layerlab.errors import LayerlabWarning

    monkeypatch.setattr(steps, "native_bf16", lambda device_type: False)
    monkeypatch.setattr(steps, "_SAID", set())
    torch.manual_seed(0)
    asked, plain = nn.Linear(4, 3), nn.Linear(4, 3)
    plain.load_state_dict(asked.state_dict())
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    with pytest.warns(LayerlabWarning, match=r"^bf16 autocast \(--amp\) was asked for, but this CPU has no native "
                                             r"bf16 .*: training in float32 instead") as said:
        values = Supervised(asked, amp=True, optimizer="sgd", lr=0.1).train((x, y))
        Supervised(asked, amp=True, optimizer=None).evaluate((x, y))
    assert len(said) == 1                                                    # once per process, not per step
    expected = Supervised(plain, optimizer="sgd", lr=0.1).train((x, y))
    assert values["outputs"].dtype == torch.float32 and torch.equal(values["loss"], expected["loss"])
    torch.testing.assert_close(asked.state_dict(), plain.state_dict(), rtol=0, atol=0)


def test_native_bf16_asks_the_gpu_and_the_cpus_instructions(cpu_flags_bf16: bool) -> None:
    from layerlab.engine.speed import native_bf16

    assert native_bf16("cuda") == (torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False))
    assert native_bf16("cpu") is cpu_flags_bf16
    assert native_bf16("mps")                                   # left to torch's autocast, as before


@pytest.mark.parametrize(("avx512_bf16", "amx", "onednn", "x86", "arm"), [
    (False, False, True, False, True),    # AVX-512 without AVX512_BF16 (Ice Lake): oneDNN says yes, but converts
    (True, False, True, True, True),      # Cooper Lake, Zen 4
    (False, True, True, True, True),      # Sapphire Rapids' AMX
    (False, False, False, False, False),  # AVX2 only
])
def test_native_bf16_on_a_cpu_needs_the_instructions_not_onednns_word(
        monkeypatch: pytest.MonkeyPatch, avx512_bf16: bool, amx: bool, onednn: bool, x86: bool, arm: bool) -> None:
    from layerlab.engine.speed import _cpu_bf16

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: onednn)
    assert _cpu_bf16("x86_64") is x86 and _cpu_bf16("AMD64") is x86
    assert _cpu_bf16("aarch64") is arm                           # Arm: oneDNN's kernels are the bf16 ones
