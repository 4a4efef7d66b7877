"""What every lab shares: the common config fields, the result it returns, and its registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from layerlab.engine.card import ModelCard
from layerlab.engine.loop import History
from layerlab.engine.run import RunDir
from layerlab.inspect.summary import Summary
from layerlab.registry import Registry


@dataclass(frozen=True)
class LabConfig:
    """Fields every lab has; each lab's config subclasses this with its own fields and defaults."""

    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    device: str = "auto"         # auto: CUDA, then Apple MPS, then CPU
    seed: int = 0
    data_dir: str = ""           # folder holding the dataset's files ("" = the usual places)
    quick: bool = False          # a tiny run for smoke tests: a few batches, one epoch
    progress: bool = True


@dataclass
class LabResult:
    """The numbers a lab produced; tests assert them and run_lab turns them into report.md."""

    metrics: dict[str, float]
    history: History | None = None
    summary: Summary | None = None
    card: ModelCard | None = None
    notes: list[str] = field(default_factory=list)       # sentences for the report
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    title: str = ""                                      # the report's title when not the lab's (e.g. names the user's data)


Lab = Callable[[Any, RunDir], LabResult]
LABS: Registry[Lab] = Registry("lab")


def register_lab(name: str, *, config: type, title: str, unit: str, metric: str | None = None,
                 higher_is_better: bool | None = None) -> Callable[[Lab], Lab]:
    """Register a lab function `lab(cfg, run) -> LabResult` with its config dataclass.

    `metric` is the key figure of its result.json that `layerlab runs` shows, and
    `higher_is_better` says which way is better (say it whenever you name a metric).
    """
    if (metric is None) != (higher_is_better is None):
        raise ValueError(f"lab {name!r}: give metric and higher_is_better together")
    return LABS.register(name, config=config, title=title, unit=unit, metric=metric, higher_is_better=higher_is_better)
