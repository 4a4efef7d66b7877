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


def option(default: Any, help: str, *, choices: tuple[str, ...] = ()) -> Any:
    """A config field with the text `layerlab run LAB --help` shows for it, and its allowed values
    if only a few are (make_config refuses others): `hidden: int = option(64, "hidden units")`."""
    return field(default=default, metadata={"help": help, "choices": tuple(choices)})


def option_help(cfg_type: type, name: str) -> tuple[str, tuple[str, ...]]:
    """(help, choices) of field `name`: a lab that only changes a default (`epochs: int = 15`)
    keeps the help its parent config gave the field."""
    for klass in cfg_type.__mro__:
        found = getattr(klass, "__dataclass_fields__", {}).get(name)
        if found is not None and "help" in found.metadata:
            return found.metadata["help"], found.metadata["choices"]
    return "", ()


QUICK_HELP = ("a smoke run: a small slice of the data and one or two epochs, to check that the lab runs "
              "end to end; its numbers say nothing about what the model can learn")


@dataclass(frozen=True)
class LabConfig:
    """Fields every lab has; each lab's config subclasses this with its own fields and defaults."""

    epochs: int = option(5, "passes over the training data (an upper bound where early stopping is on)")
    batch_size: int = option(64, "examples per iteration (one optimizer step)")
    lr: float = option(1e-3, "learning rate")
    device: str = option("auto", "auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps")
    seed: int = option(0, "seed of every random generator: the same seed repeats the run")
    data_dir: str = option("", "folder holding the dataset's files (empty: the usual places)")
    quick: bool = option(False, QUICK_HELP)
    progress: bool = option(True, "show a progress bar")
    lang: str = option("en", "language of the report and figure titles", choices=("en", "ko"))
    tensorboard: bool = option(False, "also write the per-epoch metrics as TensorBoard event files in "
                                      "RUN_DIR/tensorboard (tensorboard --logdir runs; needs the tensorboard package)")


@dataclass(frozen=True)
class Note:
    """One sentence of the report's "What to notice" in English and Korean; the report shows the
    run's --lang. Format each number once and put it into both, so the two cannot disagree:

        acc = f"{accuracy:.4f}"
        Note(f"Test accuracy {acc}.", f"테스트 정확도 {acc}.")
    """

    en: str
    ko: str

    def in_lang(self, lang: str) -> str:
        return self.ko if lang == "ko" else self.en


@dataclass
class LabResult:
    """The numbers a lab produced; tests assert them and run_lab turns them into report.md."""

    metrics: dict[str, float]
    history: History | None = None
    summary: Summary | None = None
    card: ModelCard | None = None
    notes: list[Note | str] = field(default_factory=list)  # sentences for the report (a str: English only)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    title: str = ""                                      # the report's title when not the lab's (e.g. names the user's data)
    trained: dict[str, int] = field(default_factory=dict)   # {"iterations": 2000}; empty: the history's epochs


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
