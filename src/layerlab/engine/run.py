"""The run folder, seeding and device choice: the only module that knows the folder layout.

runs/<lab>/<timestamp>/
    config.json        everything needed to repeat the run (lab, config, seed, normalisation, data
                       location), the machine it ran on (torch, threads, CPU vector unit, native
                       bf16 or not, GPU) and how it went: status, started, resumed, ended, seconds, error
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
from typing import Any, Mapping

import numpy as np
import torch

from layerlab.engine.speed import machine
from layerlab.files import atomic_write_bytes, atomic_write_json, atomic_write_text
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
    """One run's folder. Create with `RunDir.create(...)`, reopen with `RunDir.open(path)`.

    In the other processes of a torchrun run (rank > 0) the lab gets `RunDir.follower(path, config)`:
    the same path and config, but every write is skipped (rank 0 alone writes; `writes` says which).
    """

    writes = True

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.figures = self.path / "figures"

    @classmethod
    def follower(cls, path: Path | str, config: dict[str, Any]) -> "RunDir":
        """Rank 0's run folder seen from another process: reads its config from memory, writes nothing."""
        run = cls(Path(path))
        run.writes, run._config = False, config
        return run

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
                                                     "machine": machine(), "status": "running", "started": _now()})
        return run

    @classmethod
    def open(cls, path: Path | str) -> "RunDir":
        run = cls(Path(path))
        if not (run.path / "config.json").is_file():
            raise LayerlabError(f"{path} is not a layerlab run folder (no config.json in it)")
        return run

    def checkpointed_epoch(self) -> int | None:
        """The last epoch a checkpoint holds (metrics.jsonl is rewritten with each one), None: no checkpoint yet."""
        if not any(self.path.glob("checkpoint*.pt")):
            return None
        rows = self.read_metrics()
        return int(rows[-1].get("epoch", 0)) if rows else 0

    def remove_if_unused(self) -> bool:
        """Remove the folder (and its lab's folder, if then empty) when it holds nothing but its
        config.json: a run that failed before it trained or wrote anything. True if removed."""
        if not self.writes or not self.path.is_dir() or any(p.name != "config.json" for p in self.path.iterdir()):
            return False
        (self.path / "config.json").unlink()
        self.path.rmdir()
        if not any(self.path.parent.iterdir()):
            self.path.parent.rmdir()
        return True

    @property
    def config(self) -> dict[str, Any]:
        if not self.writes:
            return self._config
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
        if not self.writes:
            return
        config = {k: v for k, v in self.config.items() if k not in drop}
        atomic_write_json(self.path / "config.json", config | entries)

    def checkpoint_path(self, stage: str = "main") -> Path:
        return self.path / ("checkpoint.pt" if stage == "main" else f"checkpoint-{stage}.pt")

    def weights_path(self, stage: str = "main") -> Path:
        return self.path / ("model.safetensors" if stage == "main" else f"model-{stage}.safetensors")

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Rewrite metrics.jsonl whole (atomically) from the history that the checkpoint holds."""
        if self.writes:
            atomic_write_text(self.path / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in rows))

    def read_metrics(self) -> list[dict[str, Any]]:
        path = self.path / "metrics.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line] if path.exists() else []

    def save_figure(self, figure: Any, name: str) -> Path:
        """Save a matplotlib figure as figures/<name>.png (written atomically) and close it."""
        import io

        import matplotlib.pyplot as plt

        path = self.figures / f"{name}.png"
        if not self.writes:
            plt.close(figure)
            return path
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        plt.close(figure)
        atomic_write_bytes(path, buffer.getvalue())
        return path

    def write_text(self, name: str, text: str) -> Path:
        if self.writes:
            atomic_write_text(self.path / name, text)
        return self.path / name

    def write_json(self, name: str, obj: Any) -> Path:
        if self.writes:
            atomic_write_json(self.path / name, obj)
        return self.path / name


def read_runs(root: Path, key_metrics: Mapping[str, tuple[str, bool]]) -> list[dict[str, Any]]:
    """Every run folder under `root` (each folder holding a config.json), newest first.

    `key_metrics` maps a lab to (its key metric, whether higher is better). A row gives the lab,
    status, key metric and its value from result.json; a run without one shows the key metric
    (or its val_ twin) from its last metrics.jsonl row, or None; a config.json that cannot be
    read makes a row with status "unreadable" instead of an error.
    """
    if not Path(root).is_dir():
        raise LayerlabError(f"{root} is not a folder of runs (it should hold <lab>/<timestamp>/config.json)")
    found = [_run_row(path.parent, key_metrics) for path in Path(root).rglob("config.json")]
    return [row for _, row in sorted(found, key=lambda pair: pair[0], reverse=True)]


def _run_row(path: Path, key_metrics: Mapping[str, tuple[str, bool]]) -> tuple[datetime, dict[str, Any]]:
    """(when it started, its row). Runs from before `started` was recorded use config.json's
    modification time: it was written once, when the run began."""
    config = _read_json(path / "config.json")
    when = datetime.fromtimestamp((path / "config.json").stat().st_mtime).astimezone()
    if not isinstance(config, dict):
        return when, {"lab": path.parent.name, "status": "unreadable", "metric": None, "value": None,
                      "higher_is_better": None, "started": None, "run_dir": str(path)}
    lab = str(config.get("lab", path.parent.name))
    metric, higher = key_metrics.get(lab, (None, None))
    result = _read_json(path / "result.json")
    row = {"lab": lab, "status": config.get("status", "finished" if result else "unknown"), "metric": metric,
           "value": None, "higher_is_better": higher, "started": config.get("started"), "run_dir": str(path)}
    if isinstance(result, dict) and metric in result:
        row["value"] = result[metric]
    elif metric is not None:
        row |= _last_epoch(path / "metrics.jsonl", metric)
    if config.get("error"):
        row["error"] = config["error"]
    try:
        when = datetime.fromisoformat(row["started"]).astimezone()
    except (TypeError, ValueError):
        row["started"] = when.isoformat(timespec="seconds")
    return when, row


def _last_epoch(path: Path, metric: str) -> dict[str, Any]:
    """The key metric (or its val_ twin: epochs are validated, runs tested) from the last epoch."""
    try:
        last = json.loads(path.read_text().splitlines()[-1])
    except (OSError, IndexError, json.JSONDecodeError):
        return {}
    for name in (metric, "val_" + metric.removeprefix("test_")):
        if isinstance(last, dict) and name in last:
            return {"metric": name, "value": last[name], "epoch": last.get("epoch")}
    return {}


def _read_json(path: Path) -> Any:
    """The file's JSON, or None when it is missing or broken (listing runs must not stop at one)."""
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def _now() -> str:
    """This moment in ISO 8601 with the local UTC offset, e.g. 2025-03-01T14:05:09+09:00."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("layerlab")
    except PackageNotFoundError:
        return "dev"
