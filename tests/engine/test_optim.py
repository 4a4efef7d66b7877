"""get_optimizer builds what the user set: no hidden defaults, no silently ignored options."""

from __future__ import annotations

import math

import pytest
from torch import nn

from layerlab.engine.optim import get_optimizer
from layerlab.errors import LayerlabError


@pytest.fixture
def model() -> nn.Module:
    return nn.Linear(3, 2)


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_adamw_gets_exactly_the_weight_decay_the_user_set(model, weight_decay):
    group = get_optimizer("adamw", model, 1e-3, weight_decay=weight_decay).param_groups[0]
    assert group["weight_decay"] == weight_decay     # 0 stays 0, not torch's 0.01


def test_sgd_gets_momentum_nesterov_and_decay_and_keeps_the_fused_kernel(model):
    group = get_optimizer("sgd", model, 0.1, momentum=0.9, nesterov=True, weight_decay=5e-4).param_groups[0]
    assert (group["lr"], group["momentum"], group["nesterov"], group["weight_decay"]) == (0.1, 0.9, True, 5e-4)
    assert group["fused"] is True


def test_rmsprop_gets_its_momentum(model):
    group = get_optimizer("rmsprop", model, 0.01, momentum=0.5).param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.01, 0.5, 0.0)


@pytest.mark.parametrize("name, options, message", [
    ("adam", {"momentum": 0.9}, "adam has no momentum (its betas play that role); drop --momentum or use sgd"),
    ("adamw", {"momentum": 0.9}, "adamw has no momentum (its betas play that role); drop --momentum or use sgd"),
    ("rmsprop", {"momentum": 0.9, "nesterov": True}, "rmsprop has no nesterov; drop --nesterov or use sgd"),
])
def test_an_option_the_optimizer_does_not_use_is_one_line_error(model, name, options, message):
    with pytest.raises(LayerlabError) as error:
        get_optimizer(name, model, 1e-3, **options)
    assert str(error.value) == message


@pytest.mark.parametrize("lr", [math.nan, math.inf, -math.inf, 0.0, -0.1])
def test_the_learning_rate_must_be_finite_and_positive(model, lr):
    with pytest.raises(LayerlabError) as error:
        get_optimizer("sgd", model, lr)
    assert str(error.value) == f"the learning rate must be positive and finite, got {lr}"


@pytest.mark.parametrize("options, message", [
    ({"momentum": math.nan}, "--momentum must be a finite number >= 0, got nan"),
    ({"weight_decay": -1e-4}, "--weight-decay must be a finite number >= 0, got -0.0001"),
])
def test_momentum_and_weight_decay_must_be_finite_and_not_negative(model, options, message):
    with pytest.raises(LayerlabError) as error:
        get_optimizer("sgd", model, 0.1, **options)
    assert str(error.value) == message
