"""The CLI lists and does arithmetic without importing torch; the written catalog matches the registries.

Issue 11: `layerlab list labs` took ~1.8 s and 230 MB because torch was imported to print names.
What is measured here is what gets imported (python -X importtime's question), never wall time.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from layerlab import catalog


def test_the_written_catalog_is_what_the_registries_hold():
    written = json.loads(catalog.PATH.read_text(encoding="utf-8"))
    assert written == catalog.build(), "catalog.json is stale: run `python -m layerlab.catalog` and commit it"


@pytest.mark.parametrize("argv", [
    ["--help"], ["--version"], ["list", "labs"], ["list", "models", "--json"], ["list", "schedules"], ["data", "list"],
    ["run", "--help"], ["explain", "conv-size", "7", "3", "1", "0", "--json"],
])
def test_these_commands_import_no_torch(argv, tmp_path):
    code = ("import sys\nfrom layerlab.cli import main\n"
            "try:\n    status = main(sys.argv[1:])\nexcept SystemExit as exit_:\n    status = exit_.code or 0\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', status)")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "NO-TORCH 0", done.stdout + done.stderr


def test_lists_show_what_the_registries_describe(capsys):
    from layerlab.cli import main
    from layerlab.models import MODELS

    assert main(["list", "models", "--json"]) == 0
    rows = {row["name"]: row["description"] for row in json.loads(capsys.readouterr().out)["models"]}
    assert set(rows) == set(MODELS.names())
    assert rows["mlp"].split()[0] == "50,890"          # 784·64 + 64 + 64·10 + 10
    assert main(["data", "list", "--json"]) == 0
    digits = next(r for r in json.loads(capsys.readouterr().out)["datasets"] if r["name"] == "digits")
    assert digits["input_shape"] == [1, 8, 8] and digits["num_classes"] == 10


def _imported_by(argv: list[str], cwd) -> tuple[set[str], subprocess.CompletedProcess]:
    """The top-level packages `python -X importtime -m layerlab ARGV` imports, and the finished process."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "layerlab", *argv],
                          capture_output=True, text=True, cwd=cwd, timeout=120)
    names = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines()
             if line.startswith("import time:") and "|" in line}
    return names, done


@pytest.mark.parametrize("argv", [["explain", "conv-size", "7", "3", "1", "0", "--no-figure"],
                                  ["explain", "conv-size", "7", "3", "1", "0", "--json", "--no-figure"]])
def test_explain_arithmetic_without_a_figure_imports_neither_torch_nor_matplotlib(argv, tmp_path):
    names, done = _imported_by(argv, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "layerlab" in names and "json" in names          # the measurement sees what was imported
    assert not {"torch", "matplotlib", "numpy", "PIL"} & names, sorted(names)
    assert "(7 - 3 + 2*0)/1 + 1 = 5" in done.stdout
    assert not (tmp_path / "runs").exists()                 # no PNG, no folder for it


def test_explain_with_its_figure_imports_matplotlib_and_writes_the_png(tmp_path):
    names, done = _imported_by(["explain", "conv-size", "7", "3", "1", "0"], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "matplotlib" in names and "torch" not in names
    assert (tmp_path / "runs" / "explain" / "conv-size.png").stat().st_size > 10_000
