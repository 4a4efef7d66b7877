"""CRNN (Shi, Bai & Yao, 2015): a convolutional recurrent network that reads a line of text.
Course unit: CNN + RNN, sequence recognition with CTC.

What to notice: nothing in the net knows where one character ends and the next begins. The conv
stack turns the image into a row of feature *columns* (the width becomes time), a bidirectional
LSTM reads the columns left to right and right to left, and a linear layer scores every column
over the vocabulary plus one extra class, the CTC "blank" (class 0). CTC (layerlab.engine.ctc)
then sums over every way of laying the label along the columns, so the training data needs only
the text, never its positions.

For a 50x200 captcha at the default configuration (check: `layerlab summary crnn`):

    conv1   1→16,  3x3 + BN:  16·9 + 16 + 2·16          =     192   pool 2x2: 25 x 100
    conv2  16→32,  3x3 + BN:  32·(16·9) + 32 + 2·32     =   4,704   pool 2x2: 12 x 50
    conv3  32→64,  3x3 + BN:  64·(32·9) + 64 + 2·64     =  18,624   pool 2x1:  6 x 50
    conv4  64→64,  3x3 + BN:  64·(64·9) + 64 + 2·64     =  37,056   pool 2x1:  3 x 50
    project  64·3 = 192 numbers per column → 64:  192·64 + 64  =  12,352
    LSTM 1 (both directions): 2 · 4·128·(64 + 128 + 2)          = 198,656
    LSTM 2 (both directions): 2 · 4·128·(256 + 128 + 2)         = 395,264
    classifier  256 + 64 → 20 (19 characters + blank): 320·20 + 20 =  6,420
                                                        total    673,268

Each column sees 26 px of the image's width (3 px, then +2·2, +2·4 and +2·4 more for the convs
after each halving, +1 and +2 for the pools): wider than an "m" (~20-25 px). With three blocks
(18 px) the net read "m" for "n" and back in 7 of its 8 validation errors; the fourth block,
without another width halving, fixed that (measured in the crnn-captcha lab's README row).

50 columns for 5 characters: CTC needs at least one column per character, plus a blank between
two equal neighbours ("aa" cannot be told from "a" otherwise), so 50 leaves plenty of room;
`width_pools=3` halves the width once more (25 columns, each reading 8 px), which is still room
enough. `shortcut=True` (the default) lets the classifier read each column's own conv features
beside the LSTM's states (the "+ 64" above): the per-column evidence then reaches the loss
without passing through two LSTM layers first. Training starts on CTC's blank-only plateau
(every column says "blank": loss ≈ 16 per captcha); `init_weights` says why the initialisation
decides how long it lasts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from layerlab.errors import LayerlabError
from layerlab.models.registry import register_model


@dataclass(frozen=True)
class CRNNConfig:
    in_channels: int = 1
    num_classes: int = 20          # class 0 is the CTC blank: captcha-v2's 19 characters + 1
    height: int = 50               # images are read at this height; the width may vary (it is time)
    channels: tuple[int, ...] = (16, 32, 64, 64)   # one conv + BN + ReLU + pool block each
    projection: int = 64           # each column's C·H numbers are projected to this many
    hidden_size: int = 128         # LSTM units per direction
    num_layers: int = 2
    dropout: float = 0.2
    width_pools: int = 2           # how many of the first blocks also halve the width: 2 → 200 / 4 = 50 columns
    shortcut: bool = True          # the classifier also reads each column's own features (see forward)




class CRNN(nn.Module):
    """conv blocks → columns (B, T, C·H) → projection → BiLSTM → per-column scores (B, T, num_classes)."""

    def __init__(self, cfg: CRNNConfig = CRNNConfig()) -> None:
        super().__init__()
        if not 1 <= len(cfg.channels) <= 4 or not 0 <= cfg.width_pools <= len(cfg.channels):
            raise LayerlabError(f"crnn takes 1 to 4 conv blocks and at most one width pooling each, got channels="
                                f"{cfg.channels} and width_pools={cfg.width_pools}")
        # every block halves the height; the first `width_pools` halve the width too (time steps = width / 2^that)
        self.pools = [(2, 2 if i < cfg.width_pools else 1) for i in range(len(cfg.channels))]
        if cfg.num_classes < 2:
            raise LayerlabError(f"crnn needs num_classes >= 2 (the blank and at least one character), got {cfg.num_classes}")
        self.cfg = cfg
        blocks, width_in, height = [], cfg.in_channels, cfg.height
        for i, out in enumerate(cfg.channels):
            blocks += [nn.Conv2d(width_in, out, kernel_size=3, padding=1), nn.BatchNorm2d(out), nn.ReLU(inplace=True),
                       nn.MaxPool2d(self.pools[i])]
            width_in, height = out, height // 2
        if height < 1:
            raise LayerlabError(f"crnn: images {cfg.height} px high are pooled to nothing by {len(cfg.channels)} blocks")
        self.features = nn.Sequential(*blocks)
        self.feature_height = height
        self.project = nn.Sequential(nn.Linear(width_in * height, cfg.projection), nn.ReLU(inplace=True),
                                     nn.Dropout(cfg.dropout))
        self.rnn = nn.LSTM(cfg.projection, cfg.hidden_size, num_layers=cfg.num_layers, batch_first=True,
                           bidirectional=True, dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)
        self.classifier = nn.Linear(2 * cfg.hidden_size + (cfg.projection if cfg.shortcut else 0), cfg.num_classes)
        self.init_weights()

    def init_weights(self) -> None:
        """Glorot-uniform linear layers with zero biases, and LSTMs with Glorot inputs, orthogonal
        recurrent weights and a forget-gate bias of 1 (Keras's defaults, as in Shi et al.'s setup).

        Why it matters here: torch's default Linear init is 2.3x narrower (bound 1/sqrt(fan_in)
        instead of sqrt(6/(fan_in + fan_out))), and the classifier must turn the LSTM's small,
        tanh-bounded states into confident per-column scores. With it, CTC sat on the blank-only
        plateau: 32 captchas were still at 5.8 nats after 200 Adam steps; with this init, 0.2.
        (Convolutions keep torch's init: batch norm rescales their outputs anyway.)
        """
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LSTM):
                hidden = module.hidden_size
                for name, param in module.named_parameters():
                    if name.startswith("weight_ih"):                # (4·hidden, inputs): gates i, f, g, o
                        nn.init.xavier_uniform_(param)
                    elif name.startswith("weight_hh"):              # (4·hidden, hidden): one square per gate
                        for gate in param.data.chunk(4):
                            nn.init.orthogonal_(gate)
                    else:                                           # bias_ih and bias_hh: added together,
                        nn.init.zeros_(param)
                        param.data[hidden : 2 * hidden] = 0.5       # so the forget gate's bias is 0.5 + 0.5 = 1

    def output_lengths(self, widths: Tensor) -> Tensor:
        """How many columns (time steps) an image `widths` pixels wide gives: each pool floors w / 2."""
        lengths = widths.clone()
        for _, width_pool in self.pools:
            lengths = lengths // width_pool
        return lengths

    def forward_features(self, x: Tensor) -> Tensor:     # x: (B, 1, 50, 200)
        if x.shape[-2] != self.cfg.height:
            raise LayerlabError(f"crnn was built for images {self.cfg.height} px high, got {x.shape[-2]} "
                                "(resize the text line to that height; any width works)")
        return self.features(x)                           # (B, 64, 3, 50)   50 → 25 → 12 → 6 → 3 high, 200 → 100 → 50 wide

    def forward_head(self, maps: Tensor, widths: Tensor | None = None) -> Tensor:   # maps: (B, 64, 3, 50)
        """Feature maps -> columns -> BiLSTM -> per-column class scores (logits) (B, T, num_classes)."""
        columns = self.project(maps.permute(0, 3, 1, 2).flatten(2))   # (B, 50, 192) -> (B, 50, 64): one column per time step
        if widths is None or bool((self.output_lengths(widths) >= columns.shape[1]).all()):
            sequence, _ = self.rnn(columns)               # (B, T, 2·128)   forward and backward states side by side
        else:
            lengths = self.output_lengths(widths).clamp(1, columns.shape[1]).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(columns, lengths, batch_first=True, enforce_sorted=False)
            sequence, _ = nn.utils.rnn.pad_packed_sequence(self.rnn(packed)[0], batch_first=True,
                                                           total_length=columns.shape[1])
        if self.cfg.shortcut:
            sequence = torch.cat([sequence, columns], dim=-1)   # (B, T, 2·128 + 64)
        return self.classifier(sequence)                  # logits: (B, T, num_classes)

    def forward(self, x: Tensor, widths: Tensor | None = None) -> Tensor:
        """Per-column class scores (logits) (B, T, num_classes); `widths` (B,) are the images' own
        widths before padding: the LSTM then stops at each one's last real column."""
        return self.forward_head(self.forward_features(x), widths)


@register_model("crnn", input_shape=(1, 50, 200), num_params=673_268, task="ctc",
                description="CRNN: conv columns -> BiLSTM -> per-column scores for CTC (class 0 = blank)")
def crnn(**overrides: Any) -> CRNN:
    if "channels" in overrides:
        overrides = {**overrides, "channels": tuple(overrides["channels"])}   # a JSON card stores a list
    return CRNN(CRNNConfig(**overrides))
