"""The import direction (docs/contributing.md): errors, files <- arithmetic, boxes <- registry <- data, models <- inspect <- engine <- tasks <- viz <- labs <- catalog <- web <- cli."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "layerlab"
RANK = {"errors": -1, "files": -1, "arithmetic": -0.5, "boxes": -0.5, "registry": 0, "data": 1, "models": 1, "inspect": 2, "engine": 3, "tasks": 4, "viz": 5,
        "labs": 6, "catalog": 6.5, "web": 6.8, "cli": 7, "__main__": 8}


def layer_of(path: Path) -> str:
    rel = path.relative_to(SRC).parts
    return rel[0] if len(rel) > 1 else rel[0].removesuffix(".py")


def imported_layers(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        for name in names:
            parts = name.split(".")
            if parts[0] == "layerlab" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_imports_only_point_down_the_layers():
    bad = []
    for path in SRC.rglob("*.py"):
        mine = layer_of(path)
        if mine not in RANK:
            continue
        for other in imported_layers(path) - {mine}:
            if other in RANK and (RANK[other] >= RANK[mine] or {mine, other} == {"data", "models"}):
                bad.append(f"{path.relative_to(SRC)} imports layerlab.{other}")
    assert not bad, "\n".join(sorted(bad))


def test_the_checker_sees_an_upward_import(tmp_path):
    fake = tmp_path / "mod.py"
    fake.write_text("from layerlab.engine.loop import fit\nimport layerlab.cli\n")
    assert imported_layers(fake) == {"engine", "cli"}
