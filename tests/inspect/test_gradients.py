"""Per-layer gradient norms, and the sigmoid's 0.25 per layer on nets built so it can be checked by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from layerlab.inspect.gradients import layer_gradient_norms, sigmoid_bound

WIDTH, LAYERS = 6, 8


def _identity_net(activation: type[nn.Module], bias: float) -> nn.Sequential:
    """LAYERS Linear layers of width 6 with W = I (spectral norm 1) and every bias `bias`."""
    layers: list[nn.Module] = []
    for k in range(LAYERS):
        linear = nn.Linear(WIDTH, WIDTH)
        nn.init.eye_(linear.weight)
        nn.init.constant_(linear.bias, 0.0 if k == 0 else bias)
        layers += [linear] if k == LAYERS - 1 else [linear, activation()]
    return nn.Sequential(*layers)


def _sum_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return (outputs * targets).sum()


def test_sigmoid_at_zero_passes_back_exactly_a_quarter_per_layer():
    # x = 0 → z1 = 0, σ = 0.5; every later bias is -0.5, so z = 0.5 - 0.5 = 0 at every layer: σ'(0) = 1/4
    net = _identity_net(nn.Sigmoid, bias=-0.5)
    norms = [n for _, n in layer_gradient_norms(net, _sum_loss, torch.zeros(1, WIDTH), torch.ones(1, WIDTH), of="bias")]
    assert norms[-1] == pytest.approx(6 ** 0.5)                          # dLoss/dz of the output: ones(6)
    for k in range(LAYERS - 1):
        assert norms[k] / norms[k + 1] == pytest.approx(0.25, rel=1e-6)   # the bound, attained
    assert norms[0] == pytest.approx(6 ** 0.5 * 0.25 ** 7) == pytest.approx(sigmoid_bound(6 ** 0.5, LAYERS)[0])


def test_sigmoid_with_random_orthogonal_weights_stays_under_the_bound_relu_does_not_shrink():
    g = torch.Generator().manual_seed(0)
    net = _identity_net(nn.Sigmoid, bias=0.0)
    for m in net:
        if isinstance(m, nn.Linear):
            q, _ = torch.linalg.qr(torch.randn(WIDTH, WIDTH, generator=g))   # orthogonal: ‖W‖₂ = 1
            m.weight.data.copy_(q)
    x, targets = torch.randn(1, WIDTH, generator=g), torch.randn(1, WIDTH, generator=g)
    norms = [n for _, n in layer_gradient_norms(net, _sum_loss, x, targets, of="bias")]
    bound = sigmoid_bound(norms[-1], LAYERS)
    for k in range(LAYERS - 1):
        assert norms[k] <= 0.25 * norms[k + 1] + 1e-12                   # ‖δ_k‖ ≤ σ'max · ‖W‖₂ · ‖δ_k+1‖
        assert norms[k] <= bound[k] + 1e-12
    relu = _identity_net(nn.ReLU, bias=0.0)                                # W = I on a positive input: ReLU' = 1
    relu_norms = [n for _, n in layer_gradient_norms(relu, _sum_loss, torch.ones(1, WIDTH), targets, of="bias")]
    assert relu_norms == pytest.approx([relu_norms[-1]] * LAYERS)


def test_names_come_in_forward_order_and_the_models_own_gradients_are_left_alone():
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    x, y = torch.ones(5, 3), torch.tensor([0, 1, 0, 1, 1])
    rows = layer_gradient_norms(net, nn.functional.cross_entropy, x, y, of="weight")
    assert [name for name, _ in rows] == ["0", "2"]
    assert all(p.grad is None for p in net.parameters())
    nn.functional.cross_entropy(net(x), y).backward()
    assert rows[1][1] == pytest.approx(net[2].weight.grad.norm().item())


def test_the_output_gradient_is_one_examples_averaged_over_the_batch():
    # logits z = x·Wᵀ + b with W = 0, b = 0: softmax (1/2, 1/2), so one example's dLoss/dz = (1/2, -1/2) or
    # (-1/2, 1/2), norm √0.5, whatever its target; the batch mean's gradient is 1/4 of that per row
    net = nn.Sequential(nn.Linear(3, 2))
    nn.init.zeros_(net[0].weight)
    nn.init.zeros_(net[0].bias)
    x, y = torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 1, 1])
    [(_, per_example)] = layer_gradient_norms(net, nn.functional.cross_entropy, x, y)
    assert per_example == pytest.approx(0.5 ** 0.5)
    [(_, bias)] = layer_gradient_norms(net, nn.functional.cross_entropy, x, y, of="bias")
    assert bias == pytest.approx((0.25 ** 2 + 0.25 ** 2) ** 0.5)          # mean of (1/2,-1/2) once, (-1/2,1/2) 3x
