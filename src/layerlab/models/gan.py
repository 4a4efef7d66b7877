"""DCGAN for 28x28 images (Radford, Metz & Chintala, 2015). Course unit: GAN (생성적 적대 신경망).

Two networks trained against each other (the step is in tasks/gan.py). The generator turns a
vector of 100 random numbers into an image; the discriminator turns an image into one number,
the logit of "this image is real". What to notice:

- The generator runs a classifier backwards: where the discriminator's strided convolutions halve
  the image (28 -> 14 -> 7), the generator's transposed convolutions double it (7 -> 14 -> 28).
- The paper's recipe: no pooling and no fully connected hidden layers, batch norm in both
  networks (not on the generator's output nor the discriminator's input), ReLU in the generator
  with tanh at the end (pixels in [-1, 1]), LeakyReLU(0.2) in the discriminator, and every weight
  drawn from N(0, 0.02) (`dcgan_init_`).
- The paper's 64x64 networks have four layers each; 28x28 MNIST needs two up- and two
  down-samplings (28 = 7·2·2), so the first generator layer makes a 7x7 map from the 1x1 noise.
- That first layer, a transposed conv on a 1x1 input, is a matrix product, and the discriminator's
  last, a 7x7 conv over a 7x7 map, a dot product: `Project` and `Score` compute them as such
  (2.5-3x faster on a CPU; the same weights, the same numbers to float rounding; the step is 6% faster).

Parameters at the defaults (latent 100, width 64; convolutions before batch norm have no bias,
since the norm's shift does its job), counted by hand (check: `layerlab summary dcgan`):

    generator       convT 100→128, 7x7:   100·128·7·7   = 627,200
                    BN 128:               2·128         =     256
                    convT 128→64, 4x4 s2: 128·64·4·4    = 131,072
                    BN 64:                2·64          =     128
                    convT 64→1, 4x4 s2:   64·1·4·4      =   1,024
                                                  total   759,680
    discriminator   conv 1→64, 4x4 s2:    1·64·4·4      =   1,024
                    conv 64→128, 4x4 s2:  64·128·4·4    = 131,072
                    BN 128:               2·128         =     256
                    conv 128→1, 7x7:      128·1·7·7     =   6,272
                                                  total   138,624
    dcgan (both)                                          898,304

`g_extra` / `d_extra` (0 here; 1 and 4 in the dcgan lab) add stride-1 3x3 convolutions, each with batch
norm and its network's activation: G's at 7x7 on 2·width channels (the whole digit's layout gets
one more look before strokes are drawn: 2w·2w·3·3 + 2·2w parameters), D's at 14x14 on width
channels (w·w·3·3 + 2·w). At width 32 that is 36,992 and 9,280. Under the R1 penalty the paper's
two-layer D at width 32 is the weaker player (a close game, D(x) ≈ 0.53, while the LeNet judge
still tells the fakes apart easily), so it teaches G little; one more layer on each side brought
the lab's figures after 7 epochs (25.0, IS 7.92) past the paper's networks' after 12 (27.8, IS
7.65) in less time (README, "Benchmarks": "One more layer on each side"). Later, with every other
change of the lab in place, D was again the weaker player: a second and a third layer in D took its
6-epoch games from Fréchet 4.53 to 2.15 and 1.61 and the Inception Score from 8.66 to 8.92 and 8.98, at
1.20x and 1.38x the seconds of a step (README, "Benchmarks": "A deeper D: the lever"); a fourth, with
samples from a longer average of G's weights, took the lab's score past 9.0 at three seeds (README: "The
fourth layer and a longer average").

`g_fine` (0 here, 1 in the dcgan lab) adds the same kind of layer to G at 14x14 on width channels,
just before the pixels are drawn (w·w·3·3 + 2·w: 9,280 at width 32). The gap left between generated
and real digits is in the strokes, which the paper's G draws with a single transposed conv; one such
layer took the mean of 6-epoch games from Fréchet 9.5 (four games) to 7.8 (five) (README,
"Benchmarks": "One more layer where G draws the strokes").

`g_full` (0 here, 16 in the dcgan lab) makes G's last doubling produce that many maps at 28x28 (+ batch
norm, ReLU) and draws the pixels from them with a 3x3 conv: at width 32 and 16 maps 4·4·32·16 + 2·16 + 3·3·16
= 8,368 parameters instead of the transposed conv's 4·4·32 = 512. With Adam's β2 0.99 it took the lab's
mean Fréchet distance over three seeds from 8.2 to 4.4 at about 1.1-1.2x the seconds per step (README,
"More changes tried on today's defaults").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import Tensor, nn

from layerlab.errors import LayerlabError
from layerlab.models.registry import register_model


@dataclass(frozen=True)
class DCGANConfig:
    latent: int = 100        # length of the noise vector z
    width: int = 64          # channels of the 14x14 maps; the 7x7 maps have twice as many
    channels: int = 1        # 1: grey (MNIST); 3: colour
    image_size: int = 28     # 28 = 7·2·2: two doublings after a 7x7 start; 32 = 8·2·2 works too
    g_extra: int = 0         # 3x3 stride-1 convs (+ BN, ReLU) G adds at 7x7; 0: the paper's plan
    d_extra: int = 0         # 3x3 stride-1 convs (+ BN, LeakyReLU) D adds at 14x14; 0: the paper's plan
    g_fine: int = 0          # 3x3 stride-1 convs (+ BN, ReLU) G adds at 14x14, just before it draws the pixels
    g_full: int = 0          # maps G makes at 28x28 (+ BN, ReLU) for a 3x3 conv to draw the pixels from; 0: its last transposed conv draws them
    average: bool = False    # also hold a moving average of G's weights, the generator samples come from


def _start_size(cfg: DCGANConfig) -> int:
    if cfg.image_size % 4 or cfg.image_size < 8:
        raise LayerlabError(f"dcgan image_size must be a multiple of 4 (two doublings), at least 8; got {cfg.image_size}")
    return cfg.image_size // 4


def _extra_layers(count: int, channels: int, activation: Callable[[], nn.Module], option: str, network: str) -> list[nn.Module]:
    """`count` times: a 3x3 stride-1 conv that keeps size and channels, batch norm, the network's activation."""
    if count < 0:
        raise LayerlabError(f"dcgan {option} counts extra {network} layers: 0 or more, got {count}")
    layers: list[nn.Module] = []
    for _ in range(count):
        layers += [nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(channels), activation()]
    return layers


class Project(nn.ConvTranspose2d):
    """G's first layer: a transposed conv that stamps a 7x7 map per output channel from the 1x1 noise.

    On a 1x1 input a transposed conv is a matrix product, z (B, latent) @ weight (latent, out·7·7), and
    computed as one it gives the same numbers (to float rounding) 2.5x faster on a CPU, where the
    convolution library handles a 1x1 input poorly (benchmarks/gan_layers.py). The layer, its weight
    (latent, out, 7, 7) and its name in a weights file stay the transposed conv's.
    """

    def forward(self, z: Tensor) -> Tensor:                # z: (B, latent, 1, 1)
        if z.shape[-2:] != (1, 1) or self.bias is not None or self.groups != 1 or \
                (*self.padding, *self.output_padding, *self.dilation) != (0, 0, 0, 0, 1, 1):
            return super().forward(z)
        maps = z.flatten(1) @ self.weight.flatten(1)          # (B, latent) @ (latent, out·k·k)
        return maps.view(len(z), self.out_channels, *self.kernel_size)


class Score(nn.Conv2d):
    """D's last layer: a conv whose kernel covers the whole 7x7 map, so one logit per image.

    A kernel as large as its input is a dot product of the map with the kernel, computed as one
    (the same numbers to float rounding, 3x faster on a CPU than the convolution library's call for
    a single output pixel). The layer, its weight (1, in, 7, 7) and its name stay the conv's.
    """

    def forward(self, maps: Tensor) -> Tensor:             # maps: (B, in, 7, 7)
        if maps.shape[-2:] != self.weight.shape[-2:] or self.padding != (0, 0) or self.bias is not None \
                or self.groups != 1 or self.dilation != (1, 1):
            return super().forward(maps)
        return (maps * self.weight).sum((1, 2, 3), keepdim=True)   # (B, 1, 1, 1)


def pixel_layers(cfg: DCGANConfig) -> list[nn.Module]:
    """G's last doubling, 14x14 -> 28x28: a transposed conv straight to the pixels (the paper), or with `g_full`
    maps first, g_full channels at 28x28 (+ BN, ReLU), from which a 3x3 conv draws the pixels."""
    w, maps = cfg.width, cfg.g_full
    if maps < 0:
        raise LayerlabError(f"dcgan g_full counts the generator's 28x28 maps: 0 (none) or more, got {maps}")
    if not maps:
        return [nn.ConvTranspose2d(w, cfg.channels, kernel_size=4, stride=2, padding=1, bias=False)]
    return [nn.ConvTranspose2d(w, maps, kernel_size=4, stride=2, padding=1, bias=False), nn.BatchNorm2d(maps), nn.ReLU(),
            nn.Conv2d(maps, cfg.channels, kernel_size=3, padding=1, bias=False)]


class Generator(nn.Module):
    """z (B, latent) -> image (B, channels, 28, 28) with pixels in [-1, 1]."""

    def __init__(self, cfg: DCGANConfig = DCGANConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        start, w = _start_size(cfg), cfg.width
        extra = _extra_layers(cfg.g_extra, 2 * w, nn.ReLU, "g_extra", "generator")   # the digit's layout, once more
        fine = _extra_layers(cfg.g_fine, w, nn.ReLU, "g_fine", "generator")           # the strokes, once more
        self.net = nn.Sequential(
            Project(cfg.latent, 2 * w, kernel_size=start, bias=False),   # 1x1 -> 7x7 (a transposed conv)
            nn.BatchNorm2d(2 * w),
            nn.ReLU(),
            *extra,                                                                  # 7 -> 7
            nn.ConvTranspose2d(2 * w, w, kernel_size=4, stride=2, padding=1, bias=False),   # 7 -> 14
            nn.BatchNorm2d(w),
            nn.ReLU(),
            *fine,                                                                   # 14 -> 14
            *pixel_layers(cfg),                                                             # 14 -> 28: the pixels
            nn.Tanh(),                                                               # pixels in [-1, 1]
        )
        dcgan_init_(self)

    def forward(self, z: Tensor) -> Tensor:          # z: (B, latent)
        z = z.view(len(z), -1, 1, 1)                 # (B, latent, 1, 1): a 1x1 "image" of latent channels
        # transposed conv output side: (in - 1)·stride - 2·padding + kernel: 7, then (7-1)·2 - 2 + 4 = 14, then 28
        return self.net(z)                           # (B, channels, 28, 28)


class Discriminator(nn.Module):
    """image (B, channels, 28, 28) -> logit (B,) of "this image is real" (no sigmoid: BCE with logits)."""

    def __init__(self, cfg: DCGANConfig = DCGANConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        start, w = _start_size(cfg), cfg.width
        extra = _extra_layers(cfg.d_extra, w, lambda: nn.LeakyReLU(0.2), "d_extra", "discriminator")   # a harder look at 14x14
        self.net = nn.Sequential(
            nn.Conv2d(cfg.channels, w, kernel_size=4, stride=2, padding=1, bias=False),   # 28 -> 14
            nn.LeakyReLU(0.2),                                   # no batch norm on the input layer (the paper)
            *extra,                                                                       # 14 -> 14
            nn.Conv2d(w, 2 * w, kernel_size=4, stride=2, padding=1, bias=False),          # 14 -> 7
            nn.BatchNorm2d(2 * w),
            nn.LeakyReLU(0.2),
            Score(2 * w, 1, kernel_size=start, bias=False),      # 7x7 -> 1x1: one logit per image (a conv)
        )
        dcgan_init_(self)

    def forward(self, images: Tensor) -> Tensor:     # images: (B, channels, 28, 28)
        # conv output side: (in + 2·padding - kernel) / stride + 1: (28 + 2 - 4)/2 + 1 = 14, then 7, then 1
        return self.net(images).flatten()            # (B, 1, 1, 1) -> (B,)


class DCGAN(nn.Module):
    """Both networks under one roof, so one weights file holds them ("generator.net.0.weight", ...);
    calling it generates: z (B, latent) -> images (B, channels, 28, 28).

    With `average=True` it also holds `average`, a third copy of G's layers that training never
    steps: tasks/gan.py moves it a little towards G after each of G's steps (an exponential moving
    average of G's weights, as BigGAN and StyleGAN sample from). G's weights swing from step to step
    as the game goes back and forth; their average sits between the swings. `sampler` is the
    network samples come from: the average when there is one, else G.
    """

    def __init__(self, cfg: DCGANConfig = DCGANConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.generator = Generator(cfg)
        self.discriminator = Discriminator(cfg)
        self.average = Generator(cfg).requires_grad_(False) if cfg.average else None

    @property
    def sampler(self) -> Generator:
        return self.average if self.average is not None else self.generator

    def forward(self, z: Tensor) -> Tensor:
        return self.sampler(z)


def dcgan_init_(module: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    """The paper's initialisation: conv weights ~ N(0, 0.02), batch-norm scales ~ N(1, 0.02), shifts 0.

    Give `generator` to draw from it instead of torch's global random state (the dcgan lab does).
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, 0.02, generator=generator)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02, generator=generator)
            nn.init.zeros_(layer.bias)
    return module


@register_model("dcgan", input_shape=(100,), num_params=898_304, task="generation",
                description="DCGAN (2015) for 28x28: generator (noise -> image) and discriminator together")
def dcgan(**overrides: Any) -> DCGAN:
    return DCGAN(DCGANConfig(**overrides))


@register_model("dcgan-generator", input_shape=(100,), num_params=759_680, task="generation",
                description="DCGAN generator: 100 numbers -> 7x7 -> 14x14 -> 28x28 by transposed convolutions")
def dcgan_generator(**overrides: Any) -> Generator:
    return Generator(DCGANConfig(**overrides))


@register_model("dcgan-discriminator", input_shape=(1, 28, 28), num_params=138_624,
                description="DCGAN discriminator: 28x28 -> 14x14 -> 7x7 -> one real/fake logit by strided convolutions")
def dcgan_discriminator(**overrides: Any) -> Discriminator:
    return Discriminator(DCGANConfig(**overrides))
