"""Size is a budget (STYLE.md rule 10): labs <= 150 code lines, model files <= 300, others <= 400, functions <= 50."""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "layerlab"
BUDGETS = {"labs": 150, "models": 300}


def code_lines(source: str) -> set[int]:
    """Line numbers holding code: not blank, not comments, not docstrings."""
    lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                            tokenize.ENDMARKER, tokenize.STRING):
            lines.update(range(tok.start[0], tok.end[0] + 1))
    for node in ast.walk(ast.parse(source)):   # strings that are code (not docstrings) count too
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            lines.add(node.lineno)
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
            lines.difference_update(range(body[0].lineno, body[0].end_lineno + 1))
    return lines


def test_every_module_and_function_stays_within_its_budget():
    over = []
    for path in SRC.rglob("*.py"):
        source = path.read_text()
        lines = code_lines(source)
        budget = BUDGETS.get(path.parent.name, 400)
        if len(lines) > budget:
            over.append(f"{path.relative_to(SRC)} has {len(lines)} code lines (budget {budget}); split it")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = len([i for i in lines if node.lineno <= i <= node.end_lineno])
                if n > 50:
                    over.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}() has {n} code lines (budget 50)")
    assert not over, "\n".join(over)


def test_the_counter_ignores_comments_and_docstrings():
    source = 'def f():\n    """doc\n    more"""\n    # a comment\n\n    return "x"  # trailing\n'
    assert code_lines(source) == {1, 6}
