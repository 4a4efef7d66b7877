"""run_lab / resume_lab: make the run folder, call the lab, write report.md and the summary, and
record in config.json how the run ended (finished, failed, diverged or interrupted)."""

from __future__ import annotations

import dataclasses
import math
import os
import time
import typing
from pathlib import Path
from typing import Any, Callable

from layerlab.engine import distributed
from layerlab.engine.card import ModelCard
from layerlab.files import atomic_write_text
from layerlab.engine.run import RunDir, read_runs, seed_everything
from layerlab.engine.tensorboard import require_tensorboard
from layerlab.engine.trainer_state import DivergenceError
from layerlab.errors import LayerlabError
from layerlab.labs.base import LABS, option_help
from layerlab.labs.reporting import LabRun, render_report


def make_config(cfg_type: type, overrides: dict[str, Any]) -> Any:
    """The lab's frozen config with `overrides` applied; unknown fields are a one-line error."""
    hints = typing.get_type_hints(cfg_type)
    unknown = sorted(set(overrides) - set(hints))
    if unknown:
        raise LayerlabError(f"unknown option {unknown[0]!r}; this lab takes {', '.join(sorted(hints))}")
    values = {key: coerce(value, hints[key], key) for key, value in overrides.items()}
    for key, value in values.items():
        choices = option_help(cfg_type, key)[1]
        if choices and value not in choices:
            allowed = ", ".join(choices[:-1]) + " or " + choices[-1]
            raise LayerlabError(f"--{key.replace('_', '-')} must be {allowed}; got {value!r}")
    return dataclasses.replace(cfg_type(), **values)


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Turn a command-line string (or JSON value) into the field's type: int, float, bool, tuple."""
    origin = typing.get_origin(tp)
    try:
        if origin is tuple:
            item = typing.get_args(tp)[0]
            parts = value.split(",") if isinstance(value, str) else list(value)
            return tuple(item(p) for p in parts if str(p).strip() != "")
        if tp is bool and isinstance(value, str):
            if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("1", "true", "yes")
        if origin is typing.Union or origin is getattr(__import__("types"), "UnionType", None):
            inner = [a for a in typing.get_args(tp) if a is not type(None)][0]
            return None if value in (None, "", "none") else coerce(value, inner, key)
        converted = tp(value) if not isinstance(value, tp) else value
    except (TypeError, ValueError):
        raise LayerlabError(f"--{key.replace('_', '-')} expects {getattr(tp, '__name__', tp)}, got {value!r}") from None
    if tp is float and not math.isfinite(converted):   # float("nan") parses, but no option means it
        raise LayerlabError(f"--{key.replace('_', '-')} expects a finite number, got {value}")
    return converted


def run_lab(name: str, overrides: dict[str, Any] | None = None, *, out: str | Path = "runs",
            announce: Callable[[Path], None] | None = None) -> dict[str, Any]:
    """Run a lab in a fresh run folder; returns the JSON-able outcome (lab, run_dir, metrics, ...).

    `announce(run_dir)` is called once the folder exists (the CLI prints it). The folder's paths
    are absolute (its own, and --data-dir's), so its files mean the same from any folder.
    A start that fails before the lab wrote anything removes the folder again. Under torchrun
    (engine/distributed.py) rank 0 makes the one folder and the other processes follow it.
    """
    entry = LABS.get(name)
    cfg = make_config(entry.meta["config"], overrides or {})
    if cfg.data_dir:
        cfg = dataclasses.replace(cfg, data_dir=str(Path(cfg.data_dir).expanduser().absolute()))
    run = _everywhere(lambda: LabRun.create(Path(os.path.abspath(out)), name, dataclasses.asdict(cfg)))
    if distributed.world_size() > 1:
        run.record("processes", distributed.world_size())   # resume needs as many (the shards depend on it)
    try:
        return _execute(name, cfg, run, announce)
    except Exception as exc:   # a failed start, e.g. missing data: no empty run folder stays behind
        if ending(exc)[0] == "failed":
            run.remove_if_unused()
        raise


def resume_lab(run_dir: str | Path, *, announce: Callable[[Path], None] | None = None) -> dict[str, Any]:
    """Continue a killed run from its last checkpoint, with the config it was started with."""
    run = _everywhere(lambda: LabRun.open(os.path.abspath(run_dir)))
    saved = run.config
    entry = LABS.get(saved.get("lab", ""))
    cfg = make_config(entry.meta["config"], saved.get("config", {}))
    processes = saved.get("processes", 1)
    if processes != distributed.world_size():
        how = f"--nproc {processes}" if processes > 1 else "one process (no --nproc, no torchrun)"
        raise LayerlabError(f"{run_dir} was trained on {processes} process(es), this is {distributed.world_size()}: "
                            f"resume it with {how}, so that every epoch is cut into the same shards and batches")
    run.mark_resumed()
    return _execute(entry.name, cfg, run, announce)


def _everywhere(make: Callable[[], LabRun]) -> LabRun:
    """The run folder: made (or opened) by rank 0, which alone writes; the other processes of a
    torchrun run get its path and config and write nothing (RunDir.follower)."""
    run = make() if distributed.is_main() else None
    path, config = distributed.broadcast((str(run.path), run.config) if run is not None else None)
    return run if run is not None else LabRun.follower(path, config)


def list_runs(root: str | Path = "runs") -> list[dict[str, Any]]:
    """Every run under `root`, newest first, with its lab's key metric (`register_lab(metric=...)`)."""
    entries = [LABS.get(name) for name in LABS.names()]
    key_metrics = {e.name: (e.meta["metric"], e.meta["higher_is_better"]) for e in entries if e.meta["metric"]}
    return read_runs(Path(root), key_metrics)


def ending(exc: BaseException) -> tuple[str, str | None]:
    """The status a run ends with when `exc` stops it, and its one-line error (None: none to tell)."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", None
    text = str(exc) if isinstance(exc, LayerlabError) else f"{type(exc).__name__}: {exc}"
    return "diverged" if isinstance(exc, DivergenceError) else "failed", (text.splitlines() or [""])[0]


def _execute(name: str, cfg: Any, run: RunDir, announce: Callable[[Path], None] | None = None) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        if announce is not None:       # inside: a Ctrl-C right after the folder is printed is recorded too
            announce(run.path)
        outcome = _run_and_report(name, cfg, run, start)
    except BaseException as exc:   # record how the run ended, then let the exception go on unchanged
        status, error = ending(exc)
        run.mark_ended(status, seconds=time.perf_counter() - start, error=error)
        raise
    run.mark_ended("finished", seconds=outcome["seconds"])
    return outcome


def _run_and_report(name: str, cfg: Any, run: RunDir, start: float) -> dict[str, Any]:
    entry = LABS.get(name)
    if cfg.tensorboard:
        require_tensorboard()
    seed_everything(cfg.seed)
    result = entry.obj(cfg, run)
    seconds = time.perf_counter() - start
    if result.summary is not None:
        run.write_text("summary.txt", str(result.summary) + "\n")
    if result.card is not None and run.writes:
        result.card.save(run.path / "model.json")
        _record_inputs(run, result.card)
    trained = result.trained or {"epochs": len(result.history) if result.history is not None else 0}
    run.record("trained", trained)   # what was trained, which early stopping can make fewer than asked
    outcome = {"lab": name, "run_dir": str(run.path), **trained, "smoke_run": cfg.quick, "seconds": round(seconds, 2),
               **{k: _round(v) for k, v in result.metrics.items()}}
    if result.tables:
        outcome["tables"] = result.tables
    run.write_json("result.json", outcome)
    if run.writes:
        atomic_write_text(run.path / "report.md", render_report(entry, cfg, result, seconds=seconds, trained=trained))
    return outcome


def _record_inputs(run: RunDir, card: ModelCard) -> None:
    """Beyond the config, repeating a run needs the data it read and how it scaled its inputs and targets."""
    run.record("data", {"dataset": card.dataset, "data_dir": card.data_dir, "source": card.data_source,
                        "test_split": card.test_split})
    run.record("normalisation", {"mean": card.mean, "std": card.std, "target_mean": card.target_mean,
                                 "target_std": card.target_std})


def _round(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value
