"""lr and overfitting: the behaviours the pictures claim, as numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerlab.viz.explain.lr import descend, loss_1d, loss_2d, lr_numbers
from layerlab.viz.explain.overfitting import cross_validation, fit, mse, overfitting_numbers, sample


def test_learning_rates_too_small_good_and_too_large():
    numbers = lr_numbers()  # 0.02, 0.3, 0.42 on bowls whose steepest curvature is 5
    assert numbers["stable_below"] == pytest.approx(0.4)
    for runs in (numbers["one_d"], numbers["two_d"]):
        small, good, large = runs
        assert [r["verdict"] for r in runs] == ["too slow", "converges", "diverges"]
        assert good["losses"][-1] < 1e-4 < small["losses"][-1] < small["losses"][0]
        assert all(b > a for a, b in zip(large["losses"][1:], large["losses"][2:]))  # grows every step
        assert large["losses"][-1] > 10 * large["losses"][0]


def test_descend_is_plain_gradient_descent():
    # L = 2.5 (w - 3)^2, dL/dw = 5 (w - 3): from w = 0 with lr 0.1, w1 = 0 - 0.1 * (-15) = 1.5
    run = descend(loss_1d, [0.0], lr=0.1, steps=2)
    assert [p[0] for p in run["path"]] == pytest.approx([0.0, 1.5, 2.25])
    assert run["losses"][0] == pytest.approx(22.5)
    # in 2-D each axis shrinks by its own factor: x by 1 - lr, y by 1 - 5 lr
    two = descend(loss_2d, [-4.0, 2.0], lr=0.1, steps=1)
    assert two["path"][1] == pytest.approx([-3.6, 1.0])


def test_descend_agrees_with_torch_sgd():
    w = torch.tensor([-4.0, 2.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.3)
    for _ in range(5):
        opt.zero_grad()
        loss_2d(w).backward()
        opt.step()
    assert descend(loss_2d, [-4.0, 2.0], 0.3, steps=5)["path"][-1] == pytest.approx(w.detach().tolist())


@pytest.fixture(scope="module")
def overfit() -> dict:
    return overfitting_numbers(seed=0)


def test_training_error_only_falls_as_capacity_grows(overfit):
    train = overfit["train_mse"]
    assert all(b <= a + 1e-12 for a, b in zip(train, train[1:]))


def test_validation_error_is_u_shaped(overfit):
    val, best = overfit["val_mse"], overfit["best_degree_val"]
    assert 0 < best < overfit["degrees"][-1]
    assert val[0] > 3 * val[best] and val[-1] > 2 * val[best]
    cv, best_cv = overfit["cv_mse"], overfit["best_degree_cv"]
    assert 0 < best_cv < overfit["degrees"][-1]
    assert cv[0] > 3 * cv[best_cv] and cv[-1] > 3 * cv[best_cv]
    assert abs(best_cv - best) <= 2  # cross-validation finds the bottom without the validation set


def test_bias_falls_and_variance_rises(overfit):
    bias2, variance = overfit["bias2"], overfit["variance"]
    assert bias2[0] > 0.3 and bias2[5] < 1e-3  # sin(πx) is no constant, but nearly a quintic
    assert all(b > a for a, b in zip(variance, variance[1:]))
    assert variance[-1] > 100 * variance[0]
    assert all(len(folds) == 5 for folds in overfit["cv_folds"])


def test_cross_validation_scores_every_row_once():
    rng = np.random.default_rng(1)
    x, y = sample(20, rng)
    folds = cross_validation(x, y, 0, k=4)
    # degree 0 predicts the training mean, so each fold's score can be checked by hand
    from layerlab.data.splits import kfold_indices

    for score, (train_idx, val_idx) in zip(folds, kfold_indices(20, 4)):
        t, v = train_idx.numpy(), val_idx.numpy()
        assert score == pytest.approx(np.mean((y[v] - y[t].mean()) ** 2))
    assert mse(fit(x, y, 3), x, y) < mse(fit(x, y, 1), x, y)
