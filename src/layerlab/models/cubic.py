"""The cubic y = a + b·x + c·x² + d·x³ as a module. Course unit: 2주차 인공신경망 (the training pipeline).

What to notice: a model can be four numbers. The course's first exercise (labs/cubic_sin.py)
fits them to sin(x) with gradients written by hand; kept in a module, the same four numbers are
saved to model.safetensors and used by `layerlab predict` like the weights of any network.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from layerlab.models.registry import register_model


def cubic(x: Tensor, coeffs: Tensor) -> Tensor:
    a, b, c, d = coeffs
    return a + b * x + c * x**2 + d * x**3


class Cubic(nn.Module):
    """The four coefficients (a, b, c, d) as one parameter: x (N, 1) -> y (N, 1)."""

    def __init__(self, coeffs: Tensor | None = None) -> None:
        super().__init__()
        self.coeffs = nn.Parameter(torch.zeros(4) if coeffs is None else coeffs.detach().clone())

    def forward(self, x: Tensor) -> Tensor:          # x: (N, 1)
        return cubic(x, self.coeffs)                  # (N, 1)


@register_model("cubic", input_shape=(1,), num_params=4, task="regression",
                description="y = a + b·x + c·x² + d·x³: the cubic-sin lab's four coefficients")
def cubic_model() -> Cubic:
    return Cubic()
