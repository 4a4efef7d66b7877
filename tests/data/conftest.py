"""Every data test runs with its own empty cache and without $LAYERLAB_DATA, so a copy in the
user's ~/.cache/layerlab or data folder can neither be found nor written to by a test."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_data_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("LAYERLAB_DATA", raising=False)
