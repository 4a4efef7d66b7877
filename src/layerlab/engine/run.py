"""The run folder, seeding and device choice: the only module that knows the folder layout.

runs/<lab>/<timestamp>/
    config.json        everything needed to repeat the run (lab, config, seed, normalisation, data
                       location) and how it went: status, started, resumed, ended, seconds, error
    metrics.jsonl      one line per epoch (per training stage)
    model.safetensors  the final (or latest) weights
    checkpoint.pt      optimizer, scheduler, RNG, epoch, history: torch.load(weights_only=True)
    figures/*.png      what the lab drew
    summary.txt        the model's per-layer table
    report.md          ties them together
"""

from __future__ import annotations

import json
import random
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from layerlab.engine.checkpoint import atomic_write_json, atomic_write_text
from layerlab.errors import LayerlabError


def seed_everything(seed: int) -> None:
    """Python, NumPy and torch (CPU and CUDA) random generators, all from one seed."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def select_device(name: str = "auto") -> torch.device:
    """auto: CUDA, then Apple MPS, then CPU. An unavailable explicit choice is a user error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise LayerlabError("--device cuda was asked for, but no CUDA GPU is available (try --device auto)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise LayerlabError("--device mps was asked for, but Apple MPS is not available (try --device auto)")
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise LayerlabError(f"--device must be auto, cpu, cuda[:N] or mps; got {name!r}")
    return torch.device(name)


# How a run stands, in config.json's "status": running until it ends, then one of the others.
STATUSES = ("running", "finished", "failed", "diverged", "interrupted")


class RunDir:
    """One run's folder. Create with `RunDir.create(...)`, reopen with `RunDir.open(path)`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.figures = self.path / "figures"

    @classmethod
    def create(cls, out: Path, lab: str, config: dict[str, Any]) -> "RunDir":
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path(out) / lab / stamp
        suffix = 1
        while path.exists():  # two runs in the same second get distinct folders
            suffix += 1
            path = Path(out) / lab / f"{stamp}-{suffix}"
        path.mkdir(parents=True)
        run = cls(path)
        atomic_write_json(run.path / "config.json", {"lab": lab, "config": config, "layerlab_version": _version(),
                                                     "status": "running", "started": _now()})
        return run

    @classmethod
    def open(cls, path: Path | str) -> "RunDir":
        run = cls(Path(path))
        if not (run.path / "config.json").is_file():
            raise LayerlabError(f"{path} is not a layerlab run folder (no config.json in it)")
        return run

    @property
    def config(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / "config.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise LayerlabError(f"cannot read {self.path / 'config.json'}: {exc}") from None

    def record(self, key: str, value: Any) -> None:
        """Set one entry of config.json (the rest stays), written atomically: a lab or the runner adds
        what repeating the run needs beyond the config, such as the normalisation it used."""
        self._update({key: value})

    def mark_resumed(self) -> None:
        """`layerlab resume`: running again; `started` stays, `resumed` is now, the last ending goes."""
        self._update({"status": "running", "resumed": _now()}, drop=("ended", "seconds", "error"))

    def mark_ended(self, status: str, *, seconds: float, error: str | None = None) -> None:
        """How the attempt ended, when, and its wall seconds (since `resumed`, else `started`)."""
        if status not in STATUSES[1:]:
            raise ValueError(f"a run ends as one of {STATUSES[1:]}, not {status!r}")
        ending = {"status": status, "ended": _now(), "seconds": round(seconds, 2)}
        self._update(ending | ({"error": error} if error else {}), drop=() if error else ("error",))

    def _update(self, entries: dict[str, Any], drop: tuple[str, ...] = ()) -> None:
        config = {k: v for k, v in self.config.items() if k not in drop}
        atomic_write_json(self.path / "config.json", config | entries)

    def checkpoint_path(self, stage: str = "main") -> Path:
        return self.path / ("checkpoint.pt" if stage == "main" else f"checkpoint-{stage}.pt")

    def weights_path(self, stage: str = "main") -> Path:
        return self.path / ("model.safetensors" if stage == "main" else f"model-{stage}.safetensors")

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Rewrite metrics.jsonl whole (atomically) from the history that the checkpoint holds."""
        atomic_write_text(self.path / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))

    def read_metrics(self) -> list[dict[str, Any]]:
        path = self.path / "metrics.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line] if path.exists() else []

    def save_figure(self, figure: Any, name: str) -> Path:
        """Save a matplotlib figure as figures/<name>.png (written atomically) and close it."""
        import io

        import matplotlib.pyplot as plt

        from layerlab.engine.checkpoint import atomic_write_bytes

        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        plt.close(figure)
        path = self.figures / f"{name}.png"
        atomic_write_bytes(path, buffer.getvalue())
        return path

    def write_text(self, name: str, text: str) -> Path:
        atomic_write_text(self.path / name, text)
        return self.path / name

    def write_json(self, name: str, obj: Any) -> Path:
        atomic_write_json(self.path / name, obj)
        return self.path / name


def _now() -> str:
    """This moment in ISO 8601 with the local UTC offset, e.g. 2025-03-01T14:05:09+09:00."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("layerlab")
    except PackageNotFoundError:
        return "dev"
