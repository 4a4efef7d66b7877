"""How much do the dcgan lab's figures depend on its judge? One run's samples, judged by LeNet-5s trained longer.

The dcgan lab's judge is a LeNet-5 trained for `--judge-epochs` (4) epochs. Issue 13 anchors its
Inception Score goal (9.0) on real test digits scoring about 9.88; the lab's 4-epoch judge gives them
9.74. A judge trained longer is surer of every digit, real or generated, so every Inception Score rises,
and its 84 features spread further apart, so every Fréchet distance grows, its floor too. This script
judges the same 10,000 samples of a finished run (drawn as the lab draws them: seed + 2) with a judge
of each number of epochs and prints each judge's real-image figures beside the samples'.

Usage: python benchmarks/gan_judges.py RUN_DIR [--epochs 4,8,12] [--data ../shared/datasets/mnist]
Judges of other epochs than the lab's are kept in ~/.cache/layerlab/judges/ (about 15 s an epoch).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from layerlab.data import get_dataset
from layerlab.data.download import cache_dir
from layerlab.engine import RunDir
from layerlab.engine.deploy import load_trained
from layerlab.engine.generative_metrics import judge_for, judge_samples
from layerlab.labs.dcgan import judged_noise
from layerlab.tasks.gan import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a dcgan run folder (layerlab run dcgan --out ...)")
    parser.add_argument("--epochs", default="4,8,12", help="judge epochs, comma-separated")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"))
    args = parser.parse_args()
    config = RunDir.open(args.run).config["config"]                         # the lab options the run was given
    model, card = load_trained(args.run)
    train = get_dataset(card.dataset, split="train", root=args.data)
    test = get_dataset(card.dataset, split="test", root=args.data)
    z = judged_noise(config["seed"], config["samples"], card.input_shape[0])
    samples = generate(model.sampler, z)
    print(f"{args.run}: {len(samples):,} samples (seed {config['seed']})")
    for epochs in (int(e) for e in args.epochs.split(",")):
        judge = judge_for(train, test, cache=cache_dir() / "judges" / f"lenet5-{card.dataset}-e{epochs}.safetensors", epochs=epochs)
        n = judge_samples(judge, samples, train.inputs, test.inputs, seed=config["seed"])
        print(f"judge of {epochs} epochs (test accuracy {judge.test_accuracy:.4f}): real test IS {n['inception_score_real']:.2f}, "
              f"floor {n['frechet_floor']:.2f}; samples: Fréchet {n['frechet']:.2f} ({n['frechet_ratio']:.1f}x), "
              f"IS {n['inception_score']:.2f}, two-sample {n['two_sample_accuracy']:.3f} (real {n['two_sample_floor']:.3f})",
              flush=True)


if __name__ == "__main__":
    main()
