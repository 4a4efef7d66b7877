"""A per-epoch progress bar that degrades to one clean line per epoch in logs and CI.

In a terminal (or Jupyter) the bar is redrawn in place with "\r"; anywhere else only the
finished epoch's line is printed, so log files stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _interactive(stream: TextIO) -> bool:
    if "ipykernel" in sys.modules:  # Jupyter: stdout is not a tty, but "\r" redraws work there
        return True
    return hasattr(stream, "isatty") and stream.isatty()


def format_metrics(metrics: dict[str, float]) -> str:
    parts = []
    for key, value in metrics.items():
        if key in ("epoch", "seconds"):
            continue
        parts.append(f"{key} {value:.2e}" if key == "lr" else f"{key} {value:.4f}")
    return "  ".join(parts)


class EpochProgress:
    """Draws `epoch 2/5 [#####-----] 120/469  loss 0.3120` while an epoch runs."""

    width = 24

    def __init__(self, epoch: int, epochs: int, total: int, *, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.epoch, self.epochs, self.total = epoch, epochs, max(total, 1)
        self.stream = stream or sys.stdout
        self.enabled = enabled
        self.live = enabled and _interactive(self.stream)
        self.start = time.perf_counter()
        self.last_draw = 0.0

    def due(self) -> bool:
        """True about 5 times a second in a terminal; the caller then reads the loss (one sync)."""
        now = time.perf_counter()
        if self.live and now - self.last_draw > 0.2:
            self.last_draw = now
            return True
        return False

    def draw(self, step: int, loss: float) -> None:
        done = int(self.width * step / self.total)
        bar = "#" * done + "-" * (self.width - done)
        rate = step / max(time.perf_counter() - self.start, 1e-9)
        self.stream.write(f"\repoch {self.epoch}/{self.epochs} [{bar}] {step}/{self.total}  loss {loss:.4f}  {rate:.0f} it/s")
        self.stream.flush()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def close(self, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        seconds = time.perf_counter() - self.start
        line = f"epoch {self.epoch}/{self.epochs}  {format_metrics(metrics)}  ({seconds:.1f}s)"
        prefix = "\r" + " " * (self.width + 60) + "\r" if self.live else ""
        self.stream.write(prefix + line + "\n")
        self.stream.flush()
