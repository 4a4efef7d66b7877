"""How big is each layer's gradient? The tool behind the vanishing-gradient pictures.

Backpropagation multiplies one factor per layer on the way from the loss to the input. Call z_k the
output of weighted layer k and δ_k = dLoss/dz_k the gradient that reaches it. Through a sigmoid,
δ_k = σ'(z_k) ⊙ W_k+1ᵀ δ_k+1, and σ'(z) = σ(z)(1 - σ(z)) is at most 1/4 (at z = 0), so

    ‖δ_k‖ ≤ 1/4 · ‖W_k+1‖₂ · ‖δ_k+1‖        (‖W‖₂: the largest stretch of the weight matrix)

and with weights that stretch nothing, layer k gets at most (1/4)^(L-k) of the output layer's
gradient. Layer k's weights then move by dLoss/dW_k = δ_k · (its input)ᵀ: a tiny δ, a frozen layer.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

WEIGHTED = (nn.Linear, nn.Conv2d)


def layer_gradient_norms(model: nn.Module, loss_fn: Callable[[Tensor, Tensor], Tensor], inputs: Tensor,
                         targets: Tensor, *, of: str = "output") -> list[tuple[str, float]]:
    """(layer name, gradient norm) for every Linear and Conv2d, in the order they were built (the
    forward order for a Sequential), for one batch scored by `loss_fn` (a mean over the batch).

    of="output": ‖δ_k‖ = ‖dLoss/dz_k‖ for one example, averaged over the batch: the gradient that
    reaches the layer, the quantity σ' ≤ 1/4 bounds. of="weight" or "bias": the norm of the
    gradient of the whole batch's loss for that parameter, what the optimizer steps with.
    The gradients come from `torch.autograd.grad`: the model's own `.grad` stay as they were. Each
    layer must run once per forward, and nothing may overwrite its output in place (an in-place ReLU
    right after it).
    """
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, WEIGHTED)]
    outputs: list[Tensor] = []
    hooks = [m.register_forward_hook(lambda _m, _in, out: outputs.append(out)) for _, m in layers] if of == "output" else []
    try:
        loss = loss_fn(model(inputs), targets)
    finally:
        for hook in hooks:
            hook.remove()
    if of == "output":
        grads = torch.autograd.grad(loss, outputs)                      # each (B, ...): dLoss/dz_k
        batch = inputs.shape[0]                                         # a mean's gradient is 1/B of one example's
        return [(name, (g.flatten(1).norm(dim=1) * batch).mean().item()) for (name, _), g in zip(layers, grads)]
    grads = torch.autograd.grad(loss, [getattr(m, of) for _, m in layers])
    return [(name, g.norm().item()) for (name, _), g in zip(layers, grads)]


def sigmoid_bound(last: float, layers: int, factor: float = 0.25) -> list[float]:
    """`last` · factor^(layers - k) for k = 1..layers: the most σ' ≤ 1/4 alone lets through to layer k
    when no weight matrix stretches (‖W‖₂ ≤ 1); layer `layers` is the output layer."""
    return [last * factor ** (layers - k) for k in range(1, layers + 1)]
