"""Lookahead, the triangle schedule and the shifts' own learning rate: each checked against the
arithmetic written out by hand, and a Lookahead run resumed from its checkpoint ends bit-identical."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from layerlab.data import TensorData
from layerlab.engine import RunDir, fit
from layerlab.engine.optim import Lookahead, get_optimizer, get_schedule
from layerlab.errors import LayerlabError
from layerlab.models import get_model


def _grad_steps(opt: torch.optim.Optimizer, params: list[torch.Tensor], grads: list[list[torch.Tensor]]) -> None:
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.clone()
        opt.step()


def test_lookahead_pulls_the_weights_back_to_a_moving_average_every_k_steps_and_ends_on_it():
    torch.manual_seed(0)
    w = nn.Parameter(torch.randn(5))
    start = w.detach().clone()
    grads = [[torch.randn(5)] for _ in range(10)]
    opt = Lookahead(torch.optim.SGD([w], lr=0.1), total_steps=10, every=2, decay=0.5)
    _grad_steps(opt, [w], grads[:3])
    # by hand: plain SGD for 2 steps, then slow <- d·slow + (1 - d)·fast with d = 0.5·(2/10)³ = 0.004
    fast = start - 0.1 * (grads[0][0] + grads[1][0])
    slow = 0.004 * start + 0.996 * fast
    torch.testing.assert_close(opt.slow[0], slow)
    torch.testing.assert_close(w.detach(), slow - 0.1 * grads[2][0])   # step 3: a plain step from the slow weights
    _grad_steps(opt, [w], grads[3:])
    fast = slow = start                                  # the same ten steps written out
    for t in range(1, 11):
        fast = fast - 0.1 * grads[t - 1][0]
        if t == 10:                                      # the last step: the weights become the slow ones
            fast = slow
        elif t % 2 == 0:
            d = 0.5 * (t / 10) ** 3
            slow = fast = d * slow + (1 - d) * fast
    torch.testing.assert_close(w.detach(), slow)
    assert opt.steps == 10


def test_lookahead_shares_the_base_optimizers_rates_so_a_schedule_sets_them():
    w = nn.Parameter(torch.zeros(2))
    base = torch.optim.SGD([w], lr=0.5)
    opt = Lookahead(base, total_steps=20)
    schedule = get_schedule("cosine", opt, 10, 2)
    for _ in range(10):
        w.grad = torch.ones(2)
        opt.step()
        schedule.step()
    assert base.param_groups[0]["lr"] == pytest.approx(0.25)          # half-way along the cosine: lr / 2
    assert opt.param_groups is base.param_groups


def test_with_the_model_the_batch_norm_statistics_are_averaged_like_the_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    opt = Lookahead(torch.optim.SGD(model.parameters(), lr=0.1), total_steps=4, every=2, decay=0.5, model=model)
    assert len(opt.averaged()) == 4 + 2                  # weight, bias, BN scale and shift; running mean and variance
    seen = []
    for _ in range(2):
        model(torch.randn(8, 3) + 5).sum().backward()     # each forward moves the running statistics
        seen.append(model[1].running_mean.clone())
        opt.step()                                        # the slow copy starts at the first step: after forward 1
        opt.zero_grad()
    d = 0.5 * (2 / 4) ** 3                               # the decay at step 2 of 4
    expected = d * seen[0] + (1 - d) * seen[1]
    torch.testing.assert_close(model[1].running_mean, expected)   # pulled back to the average, like the weights
    torch.testing.assert_close(opt.slow[4], expected)
    assert not torch.allclose(seen[0], seen[1])


@pytest.mark.parametrize("options, message", [
    ({"total_steps": 0}, "Lookahead needs the run's number of steps (>= 1), got 0"),
    ({"total_steps": 5, "every": 0}, "Lookahead needs every >= 1 and 0 <= decay < 1, got every=0, decay=0.7737809374999998"),
    ({"total_steps": 5, "decay": 1.0}, "Lookahead needs every >= 1 and 0 <= decay < 1, got every=5, decay=1.0"),
])
def test_lookahead_options_are_checked_in_one_line(options, message):
    with pytest.raises(LayerlabError) as error:
        Lookahead(torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1), **options)
    assert str(error.value) == message


class _Killed(Exception):
    pass


def test_a_lookahead_run_resumed_from_its_checkpoint_ends_bit_identical(tmp_path):
    g = torch.Generator().manual_seed(0)
    data = TensorData(torch.randn(96, 4, generator=g), torch.randint(0, 3, (96,), generator=g))

    def train(run: RunDir, stop_after: int | None = None) -> nn.Module:
        torch.manual_seed(0)
        model = get_model("mlp", sizes=(4, 8, 3))
        opt = Lookahead(get_optimizer("sgd", model, 0.2, momentum=0.9, nesterov=True), total_steps=4 * 12, every=5)

        def kill(row: dict) -> None:
            if row["epoch"] == stop_after:
                raise _Killed

        fit(model, data, optimizer=opt, schedule="triangle", epochs=4, batch_size=8, device="cpu", progress=False,
            run=run, seed=3, log=kill)
        return model

    whole = train(RunDir.create(tmp_path / "a", "lab", {}))
    run = RunDir.create(tmp_path / "b", "lab", {})
    with pytest.raises(_Killed):
        train(run, stop_after=2)        # 24 steps: 4 lookahead syncs done, the slow weights in the checkpoint
    resumed = train(run)
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    rows = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]


def test_the_triangle_schedule_rises_from_a_fifth_to_the_peak_then_falls_to_7_percent():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=2.0)
    schedule = get_schedule("triangle", opt, 50, 2)                   # 100 steps: the peak at step 23
    rates = []
    for _ in range(100):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    assert rates[0] == pytest.approx(0.4)                              # lr / 5
    assert rates[10] == pytest.approx(2.0 * (0.2 + 0.8 * 10 / 23))
    assert max(rates) == rates[23] == pytest.approx(2.0)                 # the peak: step 23 of 100
    assert rates[50] == pytest.approx(2.0 * (1 - 0.93 * 27 / 77))
    assert rates[99] == pytest.approx(2.0 * (1 - 0.93 * 76 / 77))
    assert opt.param_groups[0]["lr"] == pytest.approx(2.0 * 0.07)      # after the last step


def test_the_shifts_get_their_own_rate_and_the_same_decay_per_step():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
    opt = get_optimizer("sgd", model, 0.5, momentum=0.9, weight_decay=1e-3, shift_lr_scale=64)
    rest, shifts = opt.param_groups
    assert shifts["params"] == [model[1].bias]
    assert len(rest["params"]) == 5                  # conv weight and bias, BN scale, linear weight and bias
    assert (shifts["lr"], shifts["weight_decay"]) == (32.0, pytest.approx(1e-3 / 64))
    assert shifts["lr"] * shifts["weight_decay"] == pytest.approx(rest["lr"] * rest["weight_decay"])
    assert rest["fused"] is True
    model[1].bias.requires_grad_(False)             # a frozen shift is left out like any frozen parameter
    assert len(get_optimizer("sgd", model, 0.5, shift_lr_scale=64).param_groups) == 1
    with pytest.raises(LayerlabError, match="the shifts' learning-rate scale must be positive and finite, got 0.0"):
        get_optimizer("sgd", model, 0.5, shift_lr_scale=0.0)
