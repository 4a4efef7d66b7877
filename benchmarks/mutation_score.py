"""The mutation score of each module from mutmut 3's results in mutants/: `make mutation` prints it.

A mutant is killed when a test failed on it, or when it hung or crashed the tests (timeout,
segfault). A surviving mutant and one that no selected test calls count against the score;
mutants not run this time (another module was asked for) are left out. docs/testing.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KILLED = {1, 3, 24, -24, 36, 152, 255, -9, -11}   # mutmut's exit codes for killed, timeout, segfault
NOT_RUN = {None, 2, 34}                           # not checked, interrupted, skipped
SURVIVED = {0: "survived", 5: "no tests", 33: "no tests", 35: "suspicious"}


def report(mutants: Path) -> list[str]:
    lines = []
    for meta in sorted(mutants.rglob("*.py.meta")):
        codes = {name: code for name, code in json.loads(meta.read_text())["exit_code_by_key"].items()
                 if code not in NOT_RUN}
        if not codes:
            continue
        killed = sum(code in KILLED for code in codes.values())
        module = meta.relative_to(mutants).with_suffix("").with_suffix("")
        lines.append(f"{module}: {killed}/{len(codes)} killed ({100 * killed / len(codes):.1f}%)")
        lines += [f"    {SURVIVED.get(code, code)}: {name}" for name, code in sorted(codes.items()) if code not in KILLED]
    return lines


if __name__ == "__main__":
    print("\n".join(report(Path(sys.argv[1] if len(sys.argv) > 1 else "mutants"))) or "no mutation results: run `make mutation`")
