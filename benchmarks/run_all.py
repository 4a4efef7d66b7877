"""`make bench`: run each benchmark in turn (never two at once: they would share 2 cores).

labs.py (the README's lab table, ~40 minutes) runs separately: `make bench-labs`."""

import subprocess
import sys
from pathlib import Path

for script in sorted(Path(__file__).parent.glob("*.py")):
    if script.name not in ("run_all.py", "labs.py"):
        print(f"== {script.name}", flush=True)
        subprocess.run([sys.executable, str(script)], check=True)
