"""What do the dcgan lab's numbers mean? Real digits, untouched and slightly spoiled, judged as if generated.

The dcgan lab scores 10,000 generated images with a LeNet-5 judge (engine/generative_metrics.py):
the Fréchet distance in its 84 penultimate features against the 10,000 test images, printed as a
multiple of the real-vs-real floor; the classifier Inception Score; the largest class's share; a
two-sample test. Here the "generated" images are 10,000 real MNIST training images, first as they
are and then spoiled in ways a person barely sees (a little noise, a one-pixel shift, a slight
blur, ...), so each figure gets a scale: the Fréchet goal of 3x the floor, for instance, is where
real digits with Gaussian noise of standard deviation 0.05 (one grey level in twenty) land (3.2x),
and untouched real digits score about 1x (the floor counts as many training images as are judged).

Usage: python benchmarks/gan_metric_calibration.py [--data ../shared/datasets/mnist]
The judge is the lab's (cached under ~/.cache/layerlab/judges/; trained here when absent, ~1 minute).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from layerlab.data import get_dataset
from layerlab.data.download import cache_dir
from layerlab.engine.generative_metrics import judge_for, judge_samples


def blur(images: Tensor, sigma: float) -> Tensor:
    """A separable 5-tap Gaussian blur of (N, 1, H, W) images, borders replicated."""
    taps = torch.exp(-torch.arange(-2, 3).float() ** 2 / (2 * sigma**2))
    taps = taps / taps.sum()
    rows = F.conv2d(F.pad(images, (2, 2, 0, 0), mode="replicate"), taps.view(1, 1, 1, 5))
    return F.conv2d(F.pad(rows, (0, 0, 2, 2), mode="replicate"), taps.view(1, 1, 5, 1))


def spoiled(images: Tensor, labels: Tensor, generator: torch.Generator) -> dict[str, Tensor]:
    """10,000 real images (N, 1, 28, 28) in [0, 1], and the same spoiled in ways a person barely sees."""
    def noise(sd: float) -> Tensor:
        return (images + sd * torch.randn(images.shape, generator=generator)).clamp(0, 1)

    return {
        "real training images, as they are": images,
        "quantised to 4 grey levels": (images * 3).round() / 3,
        "Gaussian noise, sd 0.05": noise(0.05),
        "shifted right by 1 pixel": torch.roll(images, 1, dims=3),
        "binarised at 0.5": (images > 0.5).float(),
        "Gaussian noise, sd 0.1": noise(0.1),
        "Gaussian blur, sigma 0.5": blur(images, 0.5),
        "no 9s at all (10,000 other digits)": images[labels != 9],
        "Gaussian blur, sigma 0.8": blur(images, 0.8),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train = get_dataset("mnist", split="train", root=args.data)
    test = get_dataset("mnist", split="test", root=args.data)
    judge = judge_for(train, test, cache=cache_dir() / "judges" / "lenet5-mnist-e4.safetensors")
    generator = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(len(train), generator=generator)
    images = train.inputs[order[:12_000]].float() / 255      # 12,000 so that "no 9s" still has 10,000
    labels = train.targets[order[:12_000]]
    print(f"judge test accuracy {judge.test_accuracy:.4f}; 10,000 images per row against the 10,000 test images")
    print("| images scored as if generated | Fréchet (x the floor) | Inception Score | largest class | two-sample |")
    print("|---|---|---|---|---|")
    for name, batch in spoiled(images, labels, generator).items():
        n = judge_samples(judge, batch[:10_000], train.inputs, test.inputs, seed=args.seed)
        print(f"| {name} | {n['frechet']:.2f} ({n['frechet_ratio']:.1f}x) | {n['inception_score']:.2f} | "
              f"{n['largest_class_share']:.1%} | {n['two_sample_accuracy']:.3f} |", flush=True)
    print(f"floor (10,000 real training images vs real test, the mean of six draws): {n['frechet_floor']:.2f} "
          f"± {n['frechet_floor_sd']:.2f}; Inception Score of the test images "
          f"{n['inception_score_real']:.2f}; two-sample floor {n['two_sample_floor']:.3f}")


if __name__ == "__main__":
    main()
