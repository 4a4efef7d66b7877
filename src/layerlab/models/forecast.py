"""Next-day forecasting as a change from today. Course unit: RNN (5주차), the Netflix stock exercise.

    tomorrow = today + change,   change = RNN + MLP head (the window, relative to today)

Why a change and not the level: a daily price is close to a random walk, so "tomorrow = today"
(persistence) is already a strong forecast. A model that outputs the level has to learn to copy
the last value, and it extrapolates badly once prices leave the range seen in training (NFLX fell
below its 2018-2021 range in 2022). Predicting the change makes persistence the starting point:
the head's last layer starts at zero, so an untrained model *is* persistence, and training can
only earn its keep by predicting the change better than "no change".
The window is shifted so that today is 0: the same shape at $200 and at $600 looks the same.

`change=False` gives the plain level model (the course's first attempt) for comparison.
Inputs are (B, T) rows (as `layerlab predict` reads from a CSV) or (B, T, 1) windows, already
scaled; the output (B, 1) is tomorrow's scaled close.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from layerlab.models.registry import register_model
from layerlab.models.rnn import SequenceConfig, SequenceRegressor


@dataclass(frozen=True)
class NextDayConfig:
    cell: str = "lstm"              # rnn | lstm | gru
    hidden_size: int = 64
    num_layers: int = 1
    head: tuple[int, ...] = (32,)   # the MLP head's hidden sizes
    change: bool = True             # True: today + predicted change; False: predict the level directly


class NextDayRegressor(nn.Module):
    """x (B, T) or (B, T, 1) scaled closes, oldest first -> (B, 1) tomorrow's scaled close."""

    def __init__(self, cfg: NextDayConfig = NextDayConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.net = SequenceRegressor(SequenceConfig(cell=cfg.cell, hidden_size=cfg.hidden_size,
                                                    num_layers=cfg.num_layers, head=tuple(cfg.head)))
        if cfg.change:
            last = self.net.head[-1]       # the layer that outputs the change: start at "no change"
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(-1)             # (B, T) -> (B, T, 1): one feature per day
        if not self.cfg.change:
            return self.net(x)              # (B, 1): the level
        today = x[:, -1]                    # (B, 1): the last day of the window
        return today + self.net(x - today.unsqueeze(1))   # (B, 1): today + change


@register_model("next-day", input_shape=(30, 1), num_params=19_265, task="regression",
                description="today + change predicted by LSTM(1->64) + 64-32-1 head (--cell rnn|lstm|gru)")
def next_day(**overrides: Any) -> NextDayRegressor:
    if "head" in overrides:
        overrides["head"] = tuple(overrides["head"])
    return NextDayRegressor(NextDayConfig(**overrides))
