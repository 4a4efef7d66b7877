"""explain reparameterisation: the gradient estimates are the sample means the docstring says, sampling directly gives 0."""

from __future__ import annotations

import pytest
import torch

from layerlab.errors import LayerlabError
from layerlab.viz.explain import explain
from layerlab.viz.explain.reparam import reparam_numbers


def test_reparameterised_gradients_are_sample_means_and_direct_sampling_gives_none():
    n = reparam_numbers(1.0, 0.5, samples=2000, seed=0)
    eps = torch.randn(2000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    # E[(μ + σε)²]: d/dμ = mean 2(μ + σε) = 2μ + 2σ·mean ε;  d/dσ = mean 2(μ + σε)ε = 2μ·mean ε + 2σ·mean ε²
    assert n["reparameterised"]["mu"] == pytest.approx(2 * 1.0 + 2 * 0.5 * float(eps.mean()), abs=1e-12)
    assert n["reparameterised"]["sigma"] == pytest.approx(2 * 1.0 * float(eps.mean()) + 2 * 0.5 * float(eps.pow(2).mean()), abs=1e-12)
    assert n["exact"] == {"mu": 2.0, "sigma": 1.0}
    assert n["direct"] == {"mu": 0.0, "sigma": 0.0}
    assert n["running_mu"][-1] == pytest.approx(n["reparameterised"]["mu"], abs=1e-12)
    assert abs(n["reparameterised"]["mu"] - 2.0) < 0.05 and abs(n["reparameterised"]["sigma"] - 1.0) < 0.05


def test_the_topic_writes_its_figure_and_refuses_a_non_positive_sigma(tmp_path):
    result = explain("reparameterisation", ["0", "2"], out=tmp_path / "r.png", seed=3)
    assert result.figure.is_file() and result.numbers["exact"] == {"mu": 0.0, "sigma": 4.0}
    assert "torch.normal" in result.text
    with pytest.raises(LayerlabError, match="give two numbers, MU and SIGMA > 0"):
        explain("reparameterisation", ["1", "0"], out=tmp_path / "bad.png")
