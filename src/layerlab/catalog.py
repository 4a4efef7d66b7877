"""What the registries hold, written down, so the CLI can list it without importing torch.

`layerlab list labs` used to import every lab, model and torch (~2 s, 230 MB) to print names.
`catalog.json` beside this file holds the names and one-line descriptions of every registered
lab, model, dataset, loss, optimizer and schedule; `tests/test_catalog.py` fails when it differs
from the live registries, and says how to rewrite it:

    python -m layerlab.catalog        # rewrite src/layerlab/catalog.json from the registries
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PATH = Path(__file__).with_name("catalog.json")
KINDS = ("labs", "models", "datasets", "losses", "optimizers", "schedules")


def build() -> dict[str, Any]:
    """The catalog from the live registries (imports everything, torch included)."""
    from layerlab.data import DATASETS
    from layerlab.engine import LOSSES, OPTIMIZERS, SCHEDULES
    from layerlab.labs import LABS
    from layerlab.labs.base import QUICK_HELP
    from layerlab.models import MODELS

    registries = {"labs": LABS, "models": MODELS, "datasets": DATASETS, "losses": LOSSES, "optimizers": OPTIMIZERS,
                  "schedules": SCHEDULES}
    catalog: dict[str, Any] = {"quick_help": QUICK_HELP}
    for kind, registry in registries.items():
        rows = []
        for name in registry.names():
            meta = registry.get(name).meta
            text = meta.get("title") or meta.get("description", "")
            if kind == "models":
                text = f"{meta['num_params']:>12,} params  input {tuple(meta['input_shape'])}  {text}"
            row: dict[str, Any] = {"name": name, "description": text}
            if kind == "datasets":     # `layerlab data list --json` shows what the reader registered
                row["info"] = json.loads(json.dumps({"name": name, **meta}, default=_plain))
            rows.append(row)
        catalog[kind] = rows
    return catalog


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (tuple, set, frozenset)) else str(value)


def load() -> dict[str, Any]:
    """The written catalog (no torch); built live when the file is missing (a source checkout being edited)."""
    try:
        return json.loads(PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return build()


def write() -> Path:
    PATH.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return PATH


if __name__ == "__main__":
    print(f"wrote {write()}")
