"""Autoencoders for 28x28 images (Hinton & Salakhutdinov, 2006; Keras's convolutional autoencoder).
Course unit: AutoEncoder (learning a representation without labels).

What to notice: an autoencoder is an encoder (image -> code) and a decoder (code -> image) trained
to give back its own input. No label is used: the image is its own target. What the code keeps is
what the decoder needs to redraw the digit, so a 2-number code (`dense-autoencoder-2d`) already
places the ten digits in separate regions of a plane it was never told about.

The decoders end in logits, not a sigmoid: `sigmoid(logits)` is the reconstruction (pixels in
[0, 1]) and the loss is `binary_cross_entropy_with_logits`, the same function as Keras's
sigmoid + binary cross-entropy, computed without overflow.

`conv-autoencoder` is Keras's "Convolutional autoencoder for image denoising", layer for layer
(transposed convs with stride 2 and padding "same" double the size: padding 1, output_padding 1):

    encoder conv  1→32, 3x3:     32·1·9 + 32 =    320   (B, 32, 28, 28) -> max-pool (B, 32, 14, 14)
            conv 32→32, 3x3:    32·32·9 + 32 =  9,248   (B, 32, 14, 14) -> max-pool (B, 32, 7, 7)
    decoder convT 32→32, 3x3, stride 2:       9,248    (B, 32, 14, 14)
            convT 32→32, 3x3, stride 2:       9,248    (B, 32, 28, 28)
            conv 32→1, 3x3:      1·32·9 + 1  =    289   (B, 1, 28, 28) logits
                                       total   28,353

Its code (32·7·7 = 1,568 numbers) is larger than the image (784): what keeps it from copying
pixels is the pooling, which forgets where in each 2x2 window a maximum was. The dense ones squeeze:

    dense-autoencoder     784 → 128 → 32 → 128 → 784:
        784·128+128 + 128·32+32 + 32·128+128 + 128·784+784 = 100,480 + 4,128 + 4,224 + 101,136 = 209,968
    dense-autoencoder-2d  784 → 256 → 64 → 2 → 64 → 256 → 784:
        200,960 + 16,448 + 130 + 192 + 16,640 + 201,488 = 435,858
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from layerlab.models.registry import register_model


@dataclass(frozen=True)
class DenseAutoEncoderConfig:
    hidden: tuple[int, ...] = (128,)     # encoder widths; the decoder mirrors them
    code: int = 32                       # the bottleneck: how many numbers describe one image
    image: tuple[int, int, int] = (1, 28, 28)


@dataclass(frozen=True)
class ConvAutoEncoderConfig:
    channels: int = 32                   # every conv's width, as in Keras's example
    in_channels: int = 1


class DenseAutoEncoder(nn.Module):
    """Flatten -> Linear+ReLU ... -> code (no activation) -> Linear+ReLU ... -> 784 logits -> image shape."""

    def __init__(self, cfg: DenseAutoEncoderConfig = DenseAutoEncoderConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        pixels = cfg.image[0] * cfg.image[1] * cfg.image[2]
        widths = (pixels, *cfg.hidden, cfg.code)
        self.encoder = _dense_stack(widths)                  # 784 -> ... -> code
        self.decoder = _dense_stack(widths[::-1])            # code -> ... -> 784

    def encode(self, x: Tensor) -> Tensor:                   # x: (B, 1, 28, 28)
        return self.encoder(x.flatten(1))                    # (B, code)

    def decode(self, code: Tensor) -> Tensor:                # code: (B, code)
        return self.decoder(code).view(-1, *self.cfg.image)  # (B, 1, 28, 28) logits

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))


def _dense_stack(widths: tuple[int, ...]) -> nn.Sequential:
    """Linear layers through `widths`, ReLU between them; the last one stays linear (a code or logits)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ConvAutoEncoder(nn.Module):
    """Keras's conv autoencoder: (conv 3x3 + ReLU, max-pool) x2, (transposed conv stride 2 + ReLU) x2, conv 3x3."""

    def __init__(self, cfg: ConvAutoEncoderConfig = ConvAutoEncoderConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.channels
        self.encoder = nn.Sequential(
            nn.Conv2d(cfg.in_channels, c, 3, padding=1), nn.ReLU(),   # (B, 32, 28, 28)
            nn.MaxPool2d(2),                                          # (B, 32, 14, 14)
            nn.Conv2d(c, c, 3, padding=1), nn.ReLU(),                 # (B, 32, 14, 14)
            nn.MaxPool2d(2),                                          # (B, 32, 7, 7): the code
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(c, c, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),   # (B, 32, 14, 14)
            nn.ConvTranspose2d(c, c, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),   # (B, 32, 28, 28)
            nn.Conv2d(c, cfg.in_channels, 3, padding=1),                                     # (B, 1, 28, 28) logits
        )

    def encode(self, x: Tensor) -> Tensor:
        return self.encoder(x)

    def decode(self, code: Tensor) -> Tensor:
        return self.decoder(code)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))


@register_model("dense-autoencoder", input_shape=(1, 28, 28), num_params=209_968, task="autoencoder",
                description="dense autoencoder 784-128-32-128-784 (outputs logits)")
def dense_autoencoder(**overrides: Any) -> DenseAutoEncoder:
    return DenseAutoEncoder(DenseAutoEncoderConfig(**overrides))


@register_model("dense-autoencoder-2d", input_shape=(1, 28, 28), num_params=435_858, task="autoencoder",
                description="dense autoencoder with a 2-number code, for the latent-space picture")
def dense_autoencoder_2d(**overrides: Any) -> DenseAutoEncoder:
    return DenseAutoEncoder(DenseAutoEncoderConfig(**{"hidden": (256, 64), "code": 2, **overrides}))


@register_model("conv-autoencoder", input_shape=(1, 28, 28), num_params=28_353, task="autoencoder",
                description="Keras's convolutional (denoising) autoencoder: 2 convs + pools, 2 transposed convs")
def conv_autoencoder(**overrides: Any) -> ConvAutoEncoder:
    return ConvAutoEncoder(ConvAutoEncoderConfig(**overrides))
