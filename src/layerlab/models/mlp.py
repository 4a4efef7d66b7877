"""Multi-layer perceptron (MLP). Course unit: the artificial neural network (인공신경망, ANN).

What to notice: an image is flattened to a vector (28x28 -> 784), and each Linear layer holds
in·out weights plus out biases. The course's 784-64-10 net has 784·64 + 64 + 64·10 + 10 = 50,890
parameters (check: `layerlab summary mlp`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import math

import torch
from torch import Tensor, nn

from layerlab.models.registry import register_model


@dataclass(frozen=True)
class MLPConfig:
    sizes: tuple[int, ...] = (784, 64, 10)  # input, hidden..., output
    activation: str = "relu"                # the course's choice; "tanh" and "sigmoid" for comparison
    dropout: float = 0.0                    # applied after every hidden activation
    batch_norm: bool = False                # BatchNorm1d before each hidden activation


_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}


class MLP(nn.Module):
    def __init__(self, cfg: MLPConfig = MLPConfig()) -> None:
        super().__init__()
        if len(cfg.sizes) < 2:
            raise ValueError("an MLP needs at least an input and an output size")
        if cfg.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}")
        self.cfg = cfg
        layers: list[nn.Module] = []
        pairs = list(zip(cfg.sizes[:-1], cfg.sizes[1:]))
        for i, (n_in, n_out) in enumerate(pairs):
            layers.append(nn.Linear(n_in, n_out))  # n_in·n_out + n_out parameters
            if i < len(pairs) - 1:                 # no activation after the output layer: logits
                if cfg.batch_norm:
                    layers.append(nn.BatchNorm1d(n_out))
                layers.append(_ACTIVATIONS[cfg.activation]())
                if cfg.dropout > 0:
                    layers.append(nn.Dropout(cfg.dropout))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:  # x: (B, ...) e.g. (B, 1, 28, 28)
        x = torch.flatten(x, 1)              # (B, 784)
        return self.layers(x)                # logits: (B, 10)


@register_model("mlp", input_shape=(1, 28, 28), num_params=50_890,
                description="the course's 784-64-10 perceptron (sizes=... for any shape)")
def mlp(**overrides: Any) -> MLP:
    if "sizes" in overrides:
        overrides["sizes"] = tuple(overrides["sizes"])
    return MLP(MLPConfig(**overrides))


INITS = ("gain", "torch")


def seeded_mlp(sizes: tuple[int, ...], activation: str, *, init: str = "gain", seed: int = 0) -> MLP:
    """An MLP whose weights are drawn from a generator seeded `seed`. It is built on the meta device
    (shapes only), so torch's global random state is neither used nor changed.

    init="gain": weights N(0, gain²/fan_in) and biases 0, with the activation's gain (torch's
    `calculate_gain`: sigmoid 1, tanh 5/3, relu √2), which keeps the forward signal's scale; the
    same seed gives every activation the same draws, only scaled. init="torch": nn.Linear's own
    default, U(±1/√fan_in) for weights and biases.
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    with torch.device("meta"):
        model = MLP(MLPConfig(sizes=tuple(sizes), activation=activation))
    model = model.to_empty(device="cpu")
    g = torch.Generator().manual_seed(seed)
    gain = nn.init.calculate_gain(activation)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                bound = 1 / math.sqrt(m.in_features)
                if init == "gain":
                    m.weight.normal_(0.0, gain * bound, generator=g)   # std = gain / √fan_in
                    m.bias.zero_()
                else:                                                   # nn.Linear's reset_parameters
                    m.weight.uniform_(-bound, bound, generator=g)
                    m.bias.uniform_(-bound, bound, generator=g)
    return model
