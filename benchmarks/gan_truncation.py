"""Sampling a finished dcgan run from a narrower noise: what each width does to its figures.

A generator maps noise z ~ N(0, I) to digits; drawing z from N(0, psi^2 I) with psi < 1 keeps the
samples nearer the middle of what G learned (StyleGAN's and BigGAN's "truncation"), which is meant
to make them surer (a higher Inception Score) at the price of spread (a larger Fréchet distance);
for the dcgan lab's G both figures got worse (README, "Sampling from a narrower noise").
This script draws one run's 10,000 samples (the lab's noise, seed + 2, times psi) for each psi and
judges them with the lab's judge. So that psi is not chosen on the test images it is judged by, the
script also scores each set against the last 10,000 training images (a validation distance: no
test image in it) and names the psi that validation picks.

Usage: python benchmarks/gan_truncation.py RUN_DIR [--psi 1,0.9,0.8,0.7] [--data ../shared/datasets/mnist]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from layerlab.data import get_dataset
from layerlab.data.download import cache_dir
from layerlab.engine import RunDir
from layerlab.engine.deploy import load_trained
from layerlab.engine.generative_metrics import frechet_between, judge_for, judge_samples
from layerlab.labs.dcgan import judged_noise
from layerlab.tasks.gan import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a dcgan run folder (layerlab run dcgan --out ...)")
    parser.add_argument("--psi", default="1,0.9,0.8,0.7", help="noise widths, comma-separated")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"))
    args = parser.parse_args()
    config = RunDir.open(args.run).config["config"]
    model, card = load_trained(args.run)
    train = get_dataset(card.dataset, split="train", root=args.data)
    test = get_dataset(card.dataset, split="test", root=args.data)
    judge = judge_for(train, test, cache=cache_dir() / "judges" / f"lenet5-{card.dataset}-e{config['judge_epochs']}.safetensors",
                      epochs=config["judge_epochs"])
    z = judged_noise(config["seed"], config["samples"], card.input_shape[0])
    validation, _ = judge.read(train.inputs[-len(z):])          # the last 10,000 training images
    print(f"{args.run}: {len(z):,} samples (seed {config['seed']}), judge of {config['judge_epochs']} epochs")
    best = None
    for psi in (float(p) for p in args.psi.split(",")):
        samples = generate(model.sampler, z * psi)
        n = judge_samples(judge, samples, train.inputs, test.inputs, seed=config["seed"])
        val = frechet_between(judge.read(samples)[0], validation)
        best = min(best or (val, psi), (val, psi))
        print(f"psi {psi:.2f}: Fréchet {n['frechet']:.2f} ({n['frechet_ratio']:.1f}x floor {n['frechet_floor']:.2f}), "
              f"IS {n['inception_score']:.2f} (real {n['inception_score_real']:.2f}), largest {n['largest_class_share']:.1%}, "
              f"two-sample {n['two_sample_accuracy']:.3f}; validation Fréchet {val:.2f}", flush=True)
    print(f"validation picks psi {best[1]:.2f} (its distance to the held-out training images {best[0]:.2f})")


if __name__ == "__main__":
    main()
