"""DCGAN recipes side by side: the dcgan lab's step with one thing changed, judged every few epochs.

Trains the lab's generator and discriminator (models/gan.py) with its step (tasks/gan.py) on MNIST's
60,000 training images and, at the epochs of `--eval-at`, scores 10,000 samples with the lab's
LeNet-5 judge: Fréchet distance (and its multiple of the real-vs-real floor), classifier Inception
Score, the largest class's share, the two-sample test. One change at a time against the lab's
recipe as it was before R1 and batch 64 became its defaults (width 32, batch 128, Adam 2e-4 with beta1 0.5
for both, plain BCE; `--r1 1 --r1-every 16 --batch-size 32 --g-extra 1 --d-extra 4 --g-fine 1 --ema 0.999
--g-full --beta1 0 --beta2 0.99 --lr-g 3e-4 --lr-d 3e-4 --epochs 5` gives today's lab, its G's last layers drawn in
another order):

    --width 64             both networks twice as wide (4x the multiply-adds of the middle convs)
    --batch-size 64        twice the steps per epoch (the lab's default after R1, until batch 32 with the average)
    --lr-d 4e-4 --lr-g 1e-4  two learning rates (TTUR, Heusel et al. 2017)
    --smooth 0.9           one-sided label smoothing: D's target for real images is 0.9
    --beta1 0              Adam's beta1 for both networks (StyleGAN2's 0 with R1; the lab's default since it was measured)
    --beta2 0.99           Adam's beta2 for both networks (StyleGAN's 0.99; the lab's default since it was measured)
    --d-no-norm            D without batch norm (its BN layers become identities), as R1 games usually play
    --d-width 48           D's width only (G keeps --width)
    --g-full               G's last doubling makes width/2 maps at 28x28 (+ BN, ReLU), and a 3x3 conv draws the pixels
                           (models/gan.py's `pixel_layers`, as the lab's `--g-full 16` builds them; this flag draws
                           their weights again after G's, as in the README's games, so those games replay)
    --spectral-norm        spectral normalisation of D's convolutions (Miyato et al. 2018)
    --ema 0.995            also judge the moving average of G's weights that the lab samples from
                           (tasks/gan.py: ramped decay, batch-norm statistics measured every epoch;
                           the lab's default since it was measured; 0.999 since --ema-also measured it)
    --ema-also 0.998,0.999 more averages of the same G's weights, one per decay, judged beside --ema's
    --upsample-conv        the generator doubles its maps by nearest-neighbour upsampling + a 3x3 conv instead
                           of 4x4 transposed convs (Odena et al. 2016, "Deconvolution and checkerboard artifacts")
    --mbstd                D's last conv also gets ProGAN's minibatch standard deviation as one more channel
    --g-extra 1 --d-extra 4  one more 3x3 stride-1 conv layer in G at 7x7, four in D at 14x14 (models/gan.py;
                           the lab's default since it was measured)
    --g-fine 1             one more 3x3 stride-1 conv layer in G at 14x14, just before it draws the pixels
                           (the lab's default since it was measured)
    --r1 1                 the R1 penalty on D's gradient at real images (Mescheder et al. 2018), paid every
                           --r1-every steps (tasks/gan.py; the lab's `--r1`)
    --decay-last           both learning rates fall linearly to 0 over the last epoch (the engine's
                           `decay-last-epoch` schedule)
    --latent 32            a shorter noise vector z (the lab's --latent)
    --categories 10        a mixture prior: z also holds a one-hot category of K, drawn uniformly (times
                           --category-scale), so that G may keep the digits apart instead of drawing hybrids between them
    --amp                  bf16 autocast of both networks' forwards (the lab's default since it was measured)

Usage: python benchmarks/gan_recipes.py [--epochs 10] [--eval-at 5,10] [--threads 1] [options above]
Run two at a time with --threads 1 on a 2-core machine: the figures are about quality, and the
seconds per epoch then are those of a loaded machine.
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor, nn

from layerlab.data import get_dataset
from layerlab.data.download import cache_dir
from layerlab.engine import fit
from layerlab.engine.generative_metrics import judge_for, judge_samples
from layerlab.engine.optim import fast_kernel
from layerlab.models.gan import DCGANConfig, Discriminator, Generator, dcgan_init_, pixel_layers
from layerlab.tasks.gan import GanStep, generate, real_and_noise


def with_category(z: Tensor, args: argparse.Namespace, generator: torch.Generator) -> Tensor:
    """z (n, latent) -> (n, K + latent): after --categories K, a one-hot category (times --category-scale) drawn
    uniformly from the same generator, in front; without it z as it was."""
    if not args.categories:
        return z
    c = torch.randint(args.categories, (len(z),), generator=generator)
    return torch.cat([torch.nn.functional.one_hot(c, args.categories).float() * args.category_scale, z], dim=1)


def noise(n: int, args: argparse.Namespace, generator: torch.Generator) -> Tensor:
    """n draws of the game's noise: N(0, I) of --latent, then the category if any."""
    return with_category(torch.randn(n, args.latent, generator=generator), args, generator)


class Recipe(GanStep):
    """The lab's step with D's own learning rate as an option, and the average's batch-norm statistics
    measured from the game's own noise (the mixture prior's, after --categories)."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, average: nn.Module | None,
                 args: argparse.Namespace) -> None:
        super().__init__(generator, discriminator, lr=args.lr_g, betas=(args.beta1, args.beta2), amp=args.amp, real_label=args.smooth,
                         r1=args.r1, r1_every=args.r1_every, average=average, ema=args.ema or 0.0,
                         noise=lambda n, draws: noise(n, args, draws))
        params = list(discriminator.parameters())
        self.optimizers["discriminator"] = torch.optim.Adam(params, lr=args.lr_d, betas=(args.beta1, args.beta2), **fast_kernel(params))
        self.others = {decay: copy.deepcopy(average) for decay in args.ema_also}   # main() checks --ema is given

    def train(self, batch: tuple[Tensor, Tensor]) -> dict:
        """--ema-also: more averages of the same G's weights, each with its own decay (one game, no game-to-game noise)."""
        row = super().train(batch)
        for decay, other in self.others.items():
            self.follow_generator(other, decay)
        return row

    def end_epoch(self) -> None:
        super().end_epoch()
        for other in self.others.values():
            self.measure_statistics(other)


class MinibatchStd(nn.Module):
    """ProGAN's minibatch standard deviation: one more channel holding how much D's features vary
    across the batch, so that D can tell a batch of too-similar images (a collapsing G) from real ones."""

    def forward(self, x: Tensor) -> Tensor:                          # (B, C, H, W) -> (B, C + 1, H, W)
        spread = x.float().std(dim=0).mean().to(x.dtype)
        return torch.cat([x, spread.expand(x.shape[0], 1, *x.shape[2:])], dim=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--eval-at", default="5,10")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr-g", type=float, default=2e-4)
    parser.add_argument("--lr-d", type=float, default=2e-4)
    parser.add_argument("--beta1", type=float, default=0.5)
    parser.add_argument("--beta2", type=float, default=0.999)
    parser.add_argument("--d-no-norm", action="store_true")
    parser.add_argument("--d-width", type=int, default=None)
    parser.add_argument("--g-full", action="store_true")
    parser.add_argument("--smooth", type=float, default=1.0)
    parser.add_argument("--ema", type=float, default=None)
    parser.add_argument("--ema-also", type=lambda text: [float(d) for d in text.split(",")], default=[],
                        help="more decays, comma-separated: averages of the same G judged beside --ema's")
    parser.add_argument("--spectral-norm", action="store_true")
    parser.add_argument("--upsample-conv", action="store_true")
    parser.add_argument("--mbstd", action="store_true")
    parser.add_argument("--g-extra", type=int, default=0)
    parser.add_argument("--d-extra", type=int, default=0)
    parser.add_argument("--g-fine", type=int, default=0)
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--r1", type=float, default=0.0)
    parser.add_argument("--r1-every", type=int, default=4)
    parser.add_argument("--latent", type=int, default=100, help="length of the noise vector z (the lab's --latent)")
    parser.add_argument("--categories", type=int, default=0, help="K: z also holds a one-hot category of K (a mixture prior)")
    parser.add_argument("--category-scale", type=float, default=1.0)
    parser.add_argument("--decay-last", action="store_true", help="both rates fall linearly to 0 over the last epoch")
    parser.add_argument("--train-images", type=int, default=None, help="train on the first N images only (a smoke run)")
    args = parser.parse_args()
    if args.ema_also and not args.ema:
        parser.error("--ema-also adds averages beside --ema's: give --ema too (e.g. --ema 0.995 --ema-also 0.999)")
    torch.set_num_threads(args.threads)
    eval_at = {int(e) for e in args.eval_at.split(",")}
    train = get_dataset("mnist", split="train", root=args.data)
    test = get_dataset("mnist", split="test", root=args.data)
    judge = judge_for(train, test, cache=cache_dir() / "judges" / "lenet5-mnist-e4.safetensors")
    data = train.subset(slice(0, args.train_images)) if args.train_images else train   # the judge's floor draws from all of train
    init = torch.Generator().manual_seed(args.seed)
    cfg = DCGANConfig(latent=args.latent + args.categories, width=args.width, g_extra=args.g_extra, d_extra=args.d_extra, g_fine=args.g_fine)
    d_cfg = replace(cfg, width=args.d_width or args.width)
    generator, discriminator = dcgan_init_(Generator(cfg), init), dcgan_init_(Discriminator(d_cfg), init)
    if args.upsample_conv:                            # 7 -> 14 -> 28 by resizing, then a conv that keeps the size
        w = args.width
        first, second = (i for i, m in enumerate(generator.net) if isinstance(m, nn.ConvTranspose2d) and m.stride == (2, 2))
        generator.net[first] = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(2 * w, w, 3, padding=1, bias=False))
        generator.net[second] = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(w, cfg.channels, 3, padding=1, bias=False))
        dcgan_init_(generator, init)
    if args.g_full:                                   # G's last doubling makes width/2 maps at 28x28, a 3x3 conv draws the pixels
        last = len(generator.net) - 2                 # the model's own g_full layers, drawn again after the rest of G
        generator.net[last] = nn.Sequential(*pixel_layers(replace(cfg, g_full=args.width // 2)))
        dcgan_init_(generator.net[last], init)
    average = copy.deepcopy(generator).requires_grad_(False) if args.ema else None   # G's layers, whatever they are
    if args.mbstd:                                    # D's last conv also sees the batch's spread
        discriminator.net[-1] = nn.Sequential(MinibatchStd(), nn.Conv2d(2 * d_cfg.width + 1, 1, 7, bias=False))
        dcgan_init_(discriminator, init)
    if args.d_no_norm:                                # D without batch norm (R1 GANs' usual D)
        for i, layer in enumerate(discriminator.net):
            if isinstance(layer, nn.BatchNorm2d):
                discriminator.net[i] = nn.Identity()
    if args.spectral_norm:
        for i, layer in enumerate(discriminator.net):
            if isinstance(layer, nn.Conv2d):
                discriminator.net[i] = nn.utils.parametrizations.spectral_norm(layer)
    step = Recipe(generator, discriminator, average, args)
    z = noise(10_000, args, torch.Generator().manual_seed(args.seed + 2))
    print(vars(args), flush=True)

    def report(row: dict) -> None:
        print(f"epoch {row['epoch']}: {row['seconds']:.1f} s, D(x) {row['train_d_real']:.3f}, "
              f"D(G(z)) {row['train_d_fake']:.3f}", flush=True)
        if row["epoch"] not in eval_at:
            return
        judged = {"G": generator}
        if average is not None:
            judged[f"EMA {args.ema}"] = average
            judged.update({f"EMA {decay}": other for decay, other in step.others.items()})
        for name, model in judged.items():
            n = judge_samples(judge, generate(model, z), train.inputs, test.inputs, seed=args.seed)
            print(f"  epoch {row['epoch']} {name}: Fréchet {n['frechet']:.2f} ({n['frechet_ratio']:.1f}x the floor), "
                  f"IS {n['inception_score']:.2f}, largest class {n['largest_class_share']:.1%}, "
                  f"two-sample {n['two_sample_accuracy']:.3f}", flush=True)

    plain = real_and_noise(args.latent, channels_last=True)

    def transform(images: Tensor, labels: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        real, z = plain(images, labels, generator)            # the lab's batch transform, then the category if any
        return real, with_category(z, args, generator)

    fit(step, data, epochs=args.epochs, batch_size=args.batch_size, device="cpu", seed=args.seed, transform=transform,
        schedule="decay-last-epoch" if args.decay_last else None, channels_last=True, progress=False, log=report)


if __name__ == "__main__":
    main()
