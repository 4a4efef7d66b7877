"""How good are generated images? Four numbers, judged by a LeNet-5 we train ourselves.

The published measure, Inception FID, compares images in the features of an Inception-v3 network
trained on ImageNet (pytorch-fid's weights). We do not compute it: those weights cannot be
downloaded here, and ImageNet features say little about 28x28 grey digits anyway (an MNIST DCGAN's
Inception FID of 5-10 in public reports is not comparable with anything below). Instead the
judge is a LeNet-5 trained on the same dataset's training split (>= 99% test accuracy, cached,
never downloaded), and every number is printed beside the value real images get (its floor):

- Fréchet distance in the judge's penultimate features (84 numbers per image): fit a Gaussian to
  each set of features and measure ‖μ₁ - μ₂‖² + tr(Σ₁ + Σ₂ - 2(Σ₁Σ₂)^½). Lower is better. Floor:
  as many real training images as there are generated ones vs the real test images, the mean over
  disjoint draws (`same_size_floor`). The estimate from finite samples is biased upwards, the more
  the fewer the images (MNIST's judge: 0.62 for all 60,000 training images against the test set,
  0.63-1.12 for one draw of 10,000 of them, 0.79-0.86 for the mean of six draws), so only a floor
  from as many images is what a perfect generator would score: 1x the floor, not 1.3x.
- Classifier Inception Score: exp(mean KL(p(y|x) ‖ p(y))). High when each image is one confident
  digit (p(y|x) peaked) and the digits are varied (p(y) flat); at most the number of classes.
- Modes covered: how many classes the judge finds among the samples, and the largest class's
  share (a generator that collapsed onto a few digits covers few and over-fills one).
- Classifier two-sample test: a logistic regression on the judge's features learns "real or
  generated" on one half of both sets and is scored on the other half; 0.5 means it cannot tell.
  Floor: the same test on real training vs real test images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from layerlab.data.tensors import TensorData
from layerlab.data.transforms import float_normalize
from layerlab.engine.checkpoint import load_weights, save_weights
from layerlab.engine.loop import evaluate, fit
from layerlab.errors import LayerlabError
from layerlab.models import get_model

JUDGE_ACCURACY = 0.99        # a judge below this is not trusted: it is retrained, never used
MIN_SHARE = 0.01             # a class counts as covered when it gets at least 1% of the samples
MAX_SHARE = 0.15             # ... and no class should get more than 15% (a fair share is 10%)


# ---------------------------------------------------------------------------------------------
# The four measures, on plain tensors
# ---------------------------------------------------------------------------------------------

def feature_stats(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean (D,) and covariance (D, D) of features (N, D), in float64, the unbiased (N - 1) kind."""
    x = features.double()
    mu = x.mean(dim=0)
    centred = x - mu
    return mu, centred.T @ centred / (len(x) - 1)


def _sqrt_psd(matrix: Tensor) -> Tensor:
    """The symmetric square root of a covariance matrix: V·diag(√λ)·Vᵀ."""
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T


def frechet_distance(mu1: Tensor, cov1: Tensor, mu2: Tensor, cov2: Tensor) -> float:
    """‖μ₁ - μ₂‖² + tr(Σ₁) + tr(Σ₂) - 2·tr((Σ₁Σ₂)^½): the 2-Wasserstein distance² between two Gaussians.

    tr((Σ₁Σ₂)^½) is the sum of the square roots of Σ₁Σ₂'s eigenvalues, which are those of the
    symmetric Σ₁^½ Σ₂ Σ₁^½ (AB and BA share eigenvalues): eigvalsh on that is exact and stable.
    """
    mu1, cov1, mu2, cov2 = (t.double() for t in (mu1, cov1, mu2, cov2))
    root1 = _sqrt_psd(cov1)
    middle = root1 @ cov2 @ root1
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    return float((mu1 - mu2).pow(2).sum() + cov1.trace() + cov2.trace() - 2 * trace_sqrt)


def frechet_between(features1: Tensor, features2: Tensor) -> float:
    """The Fréchet distance between Gaussians fitted to two feature sets (N1, D) and (N2, D)."""
    return frechet_distance(*feature_stats(features1), *feature_stats(features2))


def inception_score(probs: Tensor) -> float:
    """exp(mean over images of KL(p(y|x) ‖ p(y))) for class probabilities (N, K), over all N at once.

    One-hot predictions spread evenly over K classes score exactly K; all images on one class
    score 1. (The Inception paper averages over 10 splits of the samples; one split of all N is
    the same quantity with a less noisy p(y).)
    """
    p = probs.double()
    marginal = p.mean(dim=0, keepdim=True)                         # p(y): (1, K)
    kl = (torch.xlogy(p, p) - torch.xlogy(p, marginal)).sum(dim=1)  # KL per image; 0·log 0 = 0
    return math.exp(float(kl.mean()))


def mode_coverage(predicted: Tensor, num_classes: int, *, min_share: float = MIN_SHARE,
                  max_share: float = MAX_SHARE) -> dict[str, Any]:
    """How many classes the judge predicts among the samples, and whether one class takes over.

    `covered` counts the classes with at least `min_share` of the samples; `warning` is a sentence
    when fewer than all are covered or one class has more than `max_share` (mode collapse), else "".
    """
    counts = torch.bincount(predicted.flatten().long(), minlength=num_classes)
    shares = counts.double() / max(1, int(counts.sum()))
    covered = int((shares >= min_share).sum())
    largest = int(shares.argmax())
    problems = []
    if covered < num_classes:
        missing = [c for c in range(num_classes) if float(shares[c]) < min_share]
        problems.append(f"{covered} of {num_classes} classes covered (missing {missing})")
    if float(shares[largest]) > max_share:
        problems.append(f"class {largest} takes {float(shares[largest]):.1%} of the samples "
                        f"(a fair share is {1 / num_classes:.0%}, at most {max_share:.0%} expected)")
    warning = "mode collapse: " + "; ".join(problems) if problems else ""
    return {"counts": counts.tolist(), "shares": [round(float(s), 4) for s in shares], "covered": covered,
            "largest_class": largest, "largest_share": float(shares[largest]), "warning": warning}


def two_sample_test(first: Tensor, second: Tensor, *, seed: int = 0, steps: int = 100) -> float:
    """Held-out accuracy of a logistic regression telling `first` (N1, D) from `second` (N2, D).

    Each set is shuffled and halved; the classifier learns on the first halves (full-batch L-BFGS,
    features standardised by the training half) and is scored on the other halves. 0.5: the two
    sets cannot be told apart by a linear boundary in these features.
    """
    g = torch.Generator().manual_seed(seed)
    a, b = first[torch.randperm(len(first), generator=g)].float(), second[torch.randperm(len(second), generator=g)].float()
    half_a, half_b = len(a) // 2, len(b) // 2
    x_train = torch.cat([a[:half_a], b[:half_b]])
    y_train = torch.cat([torch.zeros(half_a), torch.ones(half_b)])
    x_test, y_test = torch.cat([a[half_a:], b[half_b:]]), torch.cat([torch.zeros(len(a) - half_a), torch.ones(len(b) - half_b)])
    mean, std = x_train.mean(dim=0), x_train.std(dim=0).clamp_min(1e-6)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    weight, bias = torch.zeros(x_train.shape[1], requires_grad=True), torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(x_train @ weight + bias, y_train)
        loss = loss + 1e-3 * weight.pow(2).sum()                   # a little ridge: separable sets stay finite
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return float(((x_test @ weight + bias > 0).float() == y_test).float().mean())


# ---------------------------------------------------------------------------------------------
# The judge: a LeNet-5 trained here on the real images, kept in a cache file
# ---------------------------------------------------------------------------------------------

@dataclass
class Judge:
    """A trained LeNet-5 and the normalisation it was trained with; reads images as floats in [0, 1]."""

    model: nn.Module
    mean: tuple[float, ...]
    std: tuple[float, ...]
    test_accuracy: float

    @torch.no_grad()
    def read(self, images: Tensor, batch_size: int = 1000) -> tuple[Tensor, Tensor]:
        """(penultimate features (N, 84), class probabilities (N, K)) of images (N, 1, 28, 28) in [0, 1] or uint8."""
        self.model.eval()
        normalise = float_normalize(self.mean, self.std)
        features, probs = [], []
        for chunk in images.split(batch_size):
            x, _ = normalise(chunk, torch.zeros(len(chunk)), torch.Generator())
            flat = torch.flatten(self.model.forward_features(x), 1)   # (B, 400)
            hidden = self.model.classifier[:-1](flat)                 # (B, 84): fc1, act, fc2, act
            features.append(hidden)
            probs.append(torch.softmax(self.model.classifier[-1](hidden), dim=1))
        return torch.cat(features), torch.cat(probs)


def judge_for(train: TensorData, test: TensorData, *, cache: Path | None, epochs: int = 4, seed: int = 0,
          progress: bool = False) -> Judge:
    """The LeNet-5 judge of `train`'s kind of images: read from `cache` if it is there, else trained
    (Adam one-cycle, as in the lenet-mnist lab) and, when `cache` is given, saved there.

    A judge whose test accuracy is below JUDGE_ACCURACY is a one-line error, not a silent judge.
    """
    mean, std = tuple(train.meta["mean"]), tuple(train.meta["std"])
    with torch.random.fork_rng():            # the judge's initial weights, without touching the caller's RNG
        torch.manual_seed(seed)
        model = get_model("lenet5", num_classes=train.num_classes, activation="relu", pool="max", padding=2)
    transform = float_normalize(mean, std)
    if cache is not None and cache.is_file():
        load_weights(model, cache)
        accuracy = evaluate(model, test, transform=transform, device="cpu")["accuracy"]
    else:
        fit(model, train, loss="cross_entropy", optimizer="adam", lr=3e-3, schedule="one-cycle", epochs=epochs,
            batch_size=128, transform=transform, seed=seed, device="cpu", progress=progress)
        accuracy = evaluate(model, test, transform=transform, device="cpu")["accuracy"]
        if cache is not None and accuracy >= JUDGE_ACCURACY:
            cache.parent.mkdir(parents=True, exist_ok=True)
            save_weights(model, cache, metadata={"test_accuracy": str(accuracy), "epochs": str(epochs)})
    if accuracy < JUDGE_ACCURACY and cache is not None:
        raise LayerlabError(f"the LeNet-5 judge reached test accuracy {accuracy:.4f}, below {JUDGE_ACCURACY}: "
                            f"its verdicts would not be trusted (train it longer, or check the data)")
    return Judge(model=model.eval(), mean=mean, std=std, test_accuracy=accuracy)


def same_size_floor(train_features: Tensor, test_features: Tensor, n: int, *, parts: int = 6) -> tuple[float, float]:
    """What a perfect generator of `n` images would score: the Fréchet distance of `n` real training
    images to the test images, as (mean, standard deviation) over up to `parts` disjoint draws, the
    consecutive blocks of `train_features` (N, D): shuffle them first for random draws.

    A distance estimated from n images is biased upwards by an amount that shrinks as n grows, so a
    floor from all the training images would be lower than any n-image generator could reach; one
    draw of 10,000 MNIST images also moves by ±0.1 from draw to draw, hence the mean of several.
    """
    count = max(1, min(parts, len(train_features) // max(1, n)))
    values = torch.tensor([frechet_between(train_features[i * n:(i + 1) * n], test_features) for i in range(count)],
                          dtype=torch.float64)
    return float(values.mean()), float(values.std()) if count > 1 else 0.0


def judge_samples(judge: Judge, generated: Tensor, train_images: Tensor, test_images: Tensor, *,
                  seed: int = 0, others: dict[str, Tensor] | None = None) -> dict[str, Any]:
    """Every measure for `generated` images (N, 1, 28, 28) in [0, 1], each beside its real-image floor.

    `others` ({name: images}) are scored against the same test images, read once: their Fréchet
    distance and Inception Score come back as `frechet_<name>` and `inception_score_<name>`.
    """
    fake_features, fake_probs = judge.read(generated)
    train_features, _ = judge.read(train_images)
    test_features, test_probs = judge.read(test_images)
    num_classes = fake_probs.shape[1]
    coverage = mode_coverage(fake_probs.argmax(dim=1), num_classes)
    fd = frechet_between(fake_features, test_features)
    shuffled = train_features[torch.randperm(len(train_features), generator=torch.Generator().manual_seed(seed))]
    floor, floor_sd = same_size_floor(shuffled, test_features, len(fake_features))
    compared = {}
    for name, images in (others or {}).items():
        features, probabilities = judge.read(images)
        compared |= {f"frechet_{name}": frechet_between(features, test_features),
                     f"inception_score_{name}": inception_score(probabilities)}
    return compared | {"frechet": fd, "frechet_floor": floor, "frechet_floor_sd": floor_sd, "frechet_ratio": fd / floor if floor > 0 else math.inf,
            "inception_score": inception_score(fake_probs), "inception_score_real": inception_score(test_probs),
            "modes_covered": coverage["covered"], "largest_class_share": coverage["largest_share"],
            "class_shares": coverage["shares"], "mode_warning": coverage["warning"],
            "two_sample_accuracy": two_sample_test(test_features, fake_features, seed=seed),
            "two_sample_floor": two_sample_test(test_features, shuffled[: len(test_features)], seed=seed),
            "judge_test_accuracy": judge.test_accuracy}
