"""The generative measures against numbers worked out by hand and against torchmetrics' FID."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from layerlab.engine.generative_metrics import (
    Judge, feature_stats, frechet_between, frechet_distance, inception_score, judge_samples, mode_coverage,
    same_size_floor, two_sample_test,
)
from layerlab.models import get_model


def test_frechet_distance_of_two_1d_gaussians_is_the_closed_form():
    # N(1, 2²) vs N(4, 3²): (1 - 4)² + (2 - 3)² = 10
    assert frechet_distance(torch.tensor([1.0]), torch.tensor([[4.0]]), torch.tensor([4.0]), torch.tensor([[9.0]])) \
        == pytest.approx(10.0, abs=1e-12)


def test_frechet_distance_of_rotated_gaussians_is_the_closed_form():
    # Σ₁ = Q diag(4, 9) Qᵀ and Σ₂ = Q diag(1, 16) Qᵀ commute, so tr(Σ₁ + Σ₂ - 2(Σ₁Σ₂)^½) = (2-1)² + (3-4)² = 2;
    # ‖(0, 0) - (1, 2)‖² = 5: in all 7, whatever the rotation
    angle = torch.tensor(0.7, dtype=torch.float64)
    q = torch.stack([torch.stack([angle.cos(), -angle.sin()]), torch.stack([angle.sin(), angle.cos()])])
    cov1 = q @ torch.diag(torch.tensor([4.0, 9.0], dtype=torch.float64)) @ q.T
    cov2 = q @ torch.diag(torch.tensor([1.0, 16.0], dtype=torch.float64)) @ q.T
    assert frechet_distance(torch.zeros(2), cov1, torch.tensor([1.0, 2.0]), cov2) == pytest.approx(7.0, abs=1e-10)
    assert frechet_distance(torch.zeros(2), cov1, torch.zeros(2), cov1) == pytest.approx(0.0, abs=1e-10)


def test_feature_stats_are_the_mean_and_the_unbiased_covariance():
    mu, cov = feature_stats(torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 1.0]]))
    assert mu.tolist() == [3.0, 1.0]
    # x: deviations -2, 0, 2 -> var 8/2 = 4; y: -1, 1, 0 -> var 1; cov (2·... ) = (2 + 0 + 0)/2 = 1
    assert cov.tolist() == [[4.0, 1.0], [1.0, 1.0]]


class _Identity(nn.Module):
    """torchmetrics' FID with a custom feature module: here the 'images' are the features themselves."""

    num_features = 6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_frechet_between_feature_sets_matches_torchmetrics_fid():
    g = torch.Generator().manual_seed(0)
    mixing = torch.randn(6, 6, generator=g, dtype=torch.float64)
    real = torch.randn(400, 6, generator=g, dtype=torch.float64) @ mixing
    fake = torch.randn(300, 6, generator=g, dtype=torch.float64) @ mixing.T + 0.5
    fid = FrechetInceptionDistance(feature=_Identity())
    fid.update(real, real=True)
    fid.update(fake, real=False)
    reference = float(fid.compute())
    assert reference > 1.0                                          # far from trivial
    assert frechet_between(fake, real) == pytest.approx(reference, rel=1e-9)


def test_inception_score_of_one_hot_predictions_is_the_class_count():
    balanced = torch.eye(10)[torch.arange(1000) % 10]              # 100 sure predictions of each class
    assert inception_score(balanced) == pytest.approx(10.0, rel=1e-12)
    assert inception_score(torch.eye(4)[torch.tensor([0, 1, 2, 3])]) == pytest.approx(4.0, rel=1e-12)
    assert inception_score(torch.eye(10)[torch.zeros(50, dtype=torch.long)]) == pytest.approx(1.0)   # one class only
    assert inception_score(torch.full((20, 10), 0.1)) == pytest.approx(1.0)                      # never sure


def test_inception_score_of_two_classes_by_hand():
    # p(y|x) = (0.9, 0.1) and (0.1, 0.9): p(y) = (0.5, 0.5), KL = 0.9 ln 1.8 + 0.1 ln 0.2 each
    probs = torch.tensor([[0.9, 0.1], [0.1, 0.9]])
    assert inception_score(probs) == pytest.approx(math.exp(0.9 * math.log(1.8) + 0.1 * math.log(0.2)), rel=1e-6)


def test_mode_coverage_counts_classes_and_warns_of_collapse():
    even = mode_coverage(torch.arange(100) % 10, 10)
    assert (even["covered"], even["largest_share"], even["warning"]) == (10, 0.1, "")
    # 70 of class 3, 29 of class 5, 1 of class 0 (exactly 1%: covered): three classes, one with 70%
    skewed = mode_coverage(torch.tensor([3] * 70 + [5] * 29 + [0]), 10)
    assert skewed["counts"] == [1, 0, 0, 70, 0, 29, 0, 0, 0, 0]
    assert skewed["covered"] == 3 and skewed["largest_class"] == 3 and skewed["largest_share"] == 0.7
    assert skewed["warning"].startswith("mode collapse: 3 of 10 classes covered (missing [1, 2, 4, 6, 7, 8, 9]); "
                                        "class 3 takes 70.0%")
    # all ten present but one above 15%: still a warning; five missing (the other five then 20% each): both named
    assert mode_coverage(torch.arange(50) % 5 + 5, 10)["warning"] == ("mode collapse: 5 of 10 classes covered "
                                                                      "(missing [0, 1, 2, 3, 4]); class 5 takes 20.0% of "
                                                                      "the samples (a fair share is 10%, at most 15% expected)")
    assert mode_coverage(torch.tensor(list(range(10)) * 8 + [0] * 20), 10)["warning"] == (
        "mode collapse: class 0 takes 28.0% of the samples (a fair share is 10%, at most 15% expected)")


def test_two_sample_test_separates_far_sets_and_cannot_split_identical_points():
    g = torch.Generator().manual_seed(1)
    near, far = torch.randn(200, 3, generator=g), torch.randn(200, 3, generator=g) + 10.0
    assert two_sample_test(near, far) == 1.0
    # every feature the same: the classifier only has its bias, learns the 50/50 prior, and scores 0.5
    assert two_sample_test(torch.zeros(100, 3), torch.zeros(100, 3)) == 0.5


def test_a_perfect_generator_scores_one_floor_because_the_floor_uses_as_many_images():
    # "generated" images drawn from the very distribution of the real ones: a perfect generator
    judge, (train, test, generated) = _untrained_judge(), _noise_images(seed=1, sizes=(6_000, 1_000, 1_000))
    numbers = judge_samples(judge, generated, train, test)
    assert 0.8 < numbers["frechet_ratio"] < 1.25
    assert numbers["frechet_floor"] == pytest.approx(numbers["frechet"], rel=0.25)
    assert 0 < numbers["frechet_floor_sd"] < 0.25 * numbers["frechet_floor"]      # six draws of 1,000 differ a little
    # all 6,000 training images give a lower distance (the estimate's bias shrinks with the count):
    # that floor would have scored this perfect generator well above 1x
    train_features, test_features = judge.read(train)[0], judge.read(test)[0]
    assert numbers["frechet"] / frechet_between(train_features, test_features) > 1.4
    # asked for as many images as there are, the floor is one draw of all of them
    assert same_size_floor(train_features, test_features, 6_000) == (pytest.approx(frechet_between(train_features, test_features)), 0.0)


def test_judge_samples_scores_other_images_against_the_same_test_images():
    judge, (train, test, generated) = _untrained_judge(), _noise_images(seed=2, sizes=(500, 500, 500))
    darker = generated * 0.5
    numbers = judge_samples(judge, generated, train, test, others={"same": generated, "darker": darker})
    assert numbers["frechet_same"] == numbers["frechet"] and numbers["inception_score_same"] == numbers["inception_score"]
    features, probabilities = judge.read(darker)
    assert numbers["frechet_darker"] == pytest.approx(frechet_between(features, judge.read(test)[0]), rel=1e-6)
    assert numbers["inception_score_darker"] == pytest.approx(inception_score(probabilities), rel=1e-6)
    assert numbers["frechet_darker"] > 2 * numbers["frechet"]                 # halving every pixel is seen
    assert "frechet_generator" not in judge_samples(judge, generated, train, test)


def _untrained_judge() -> Judge:
    """A LeNet-5 judge with torch's seed-0 initial weights: its features are a fixed random map of the pixels."""
    torch.manual_seed(0)
    return Judge(model=get_model("lenet5", num_classes=10, activation="relu", pool="max", padding=2),
                 mean=(0.5,), std=(0.3,), test_accuracy=1.0)


def _noise_images(*, seed: int, sizes: tuple[int, ...]) -> list[torch.Tensor]:
    """Uniform-noise images (N, 1, 28, 28) in [0, 1], split into consecutive parts of `sizes`."""
    return list(torch.rand(sum(sizes), 1, 28, 28, generator=torch.Generator().manual_seed(seed)).split(list(sizes)))
