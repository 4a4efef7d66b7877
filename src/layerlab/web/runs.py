"""The runs the explorer shows: an index from run ids to run folders, and what a run page reads.

A run id is the run folder's path below RUNS_DIR with "/" written as "~" (`mnist-mlp~20250301-140509`).
The browser only ever sends an id; the server looks it up in the index it built by listing
RUNS_DIR (never joins it to a path), so `..`, absolute paths and ids of folders that are not runs
all end the same way: 404, unknown run id. Figures are found the same way: by listing the run's
figures/ folder and looking the requested name up in that list.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from layerlab.errors import LayerlabError
from layerlab.labs import LABS, list_runs

MAX_TEXT = 400_000   # bytes of report.md or summary.txt sent to the page (a report is a few kB)


class NotFound(LayerlabError):
    """A run id, figure or file the index does not hold: the web app answers 404."""

    status = 404


class RunIndex:
    """The run folders under `root`, listed again whenever the runs list is asked for (runs appear
    while the server runs) or an id is not found."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._rows: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def refresh(self) -> list[dict[str, Any]]:
        """Every run, newest first, each row with its `id` (and no file-system path: the page needs none)."""
        rows = list_runs(self.root) if self.root.is_dir() else []
        index = {}
        for row in rows:
            path = Path(row.pop("run_dir"))
            row["id"] = path.relative_to(self.root).as_posix().replace("/", "~")
            row["title"] = LABS.get(row["lab"]).meta["title"] if row["lab"] in LABS else row["lab"]
            index[row["id"]] = {**row, "path": path}
        with self._lock:
            self._rows = index
        return rows

    def path(self, run_id: str) -> Path:
        """The folder of `run_id`; NotFound if the index (listed afresh once) does not hold it."""
        return self._entry(run_id)["path"]

    def row(self, run_id: str) -> dict[str, Any]:
        return {k: v for k, v in self._entry(run_id).items() if k != "path"}

    def _entry(self, run_id: str) -> dict[str, Any]:
        entry = self._rows.get(run_id)
        if entry is None:
            self.refresh()
            entry = self._rows.get(run_id)
        if entry is None:
            raise NotFound(f"unknown run id {run_id[:80]!r}: pick a run from the runs list")
        return entry

    def details(self, run_id: str) -> dict[str, Any]:
        """What a run page shows from the folder's files: config, per-epoch rows, figures, report, summary text."""
        path = self.path(run_id)
        config = _read_json(path / "config.json") or {}
        return {**self.row(run_id), "config": config.get("config", {}), "trained": config.get("trained"),
                "seconds": config.get("seconds"), "ended": config.get("ended"),
                "metrics": _read_metrics(path / "metrics.jsonl"), "result": _result(path / "result.json"),
                "figures": sorted(figures(path)), "report": _read_text(path / "report.md"),
                "summary_text": _read_text(path / "summary.txt"), "card": _read_json(path / "model.json")}

    def metrics(self, run_id: str) -> dict[str, Any]:
        """The per-epoch rows and the status: what a running run's page polls."""
        path = self.path(run_id)
        config = _read_json(path / "config.json") or {}
        return {"status": config.get("status", "unknown"), "metrics": _read_metrics(path / "metrics.jsonl")}

    def figure(self, run_id: str, name: str) -> Path:
        """The PNG called `name` (a path below figures/, as `details` lists it) of the run."""
        found = figures(self.path(run_id))
        if name not in found:
            raise NotFound(f"run {run_id[:80]!r} has no figure {name[:80]!r}")
        return found[name]


def figures(run_path: Path) -> dict[str, Path]:
    """figures/**/*.png of a run, by their name below figures/ (`curves.png`, `viz/filters.png`)."""
    folder = run_path / "figures"
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): p for p in folder.rglob("*.png")
            if p.is_file() and not p.is_symlink() and not p.name.startswith(".")}


def _read_metrics(path: Path) -> list[dict[str, Any]]:
    """metrics.jsonl's rows; a line being written (or broken) is left out, never an error."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    rows = []
    for line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _result(path: Path) -> dict[str, Any]:
    """result.json's numbers (its tables are in report.md already)."""
    result = _read_json(path)
    if not isinstance(result, dict):
        return {}
    return {k: v for k, v in result.items() if k not in ("tables", "run_dir") and isinstance(v, (int, float, str, bool))}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def _read_text(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            return f.read(MAX_TEXT).decode("utf-8", errors="replace")
    except OSError:
        return None
