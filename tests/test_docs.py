"""The Python examples in docs/ run, one page at a time, in one namespace per page (as a reader would paste them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(p for p in DOCS.glob("*.md") if "```python" in p.read_text(encoding="utf-8"))


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_block_finder_finds_each_python_block_and_nothing_else():
    text = "a\n```python\nx = 1\n```\n```bash\nls\n```\n```python\ny = 2\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = 2\n"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_the_pages_python_examples_run(page: Path, capsys):
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for block in python_blocks(page.read_text(encoding="utf-8")):
        exec(compile(block, str(page), "exec"), namespace)   # the test runs the page; the project never execs
    assert capsys.readouterr().out.strip()                   # the examples print what they show
