"""`make bench`: run each benchmark in turn (never two at once: they would share 2 cores).

labs.py (the README's lab table, ~40 minutes) runs separately: `make bench-labs`; gpu_speed.py
runs only where torch sees a CUDA GPU (its figures are a GPU's)."""

import subprocess
import sys
from pathlib import Path

import torch

for script in sorted(Path(__file__).parent.glob("*.py")):
    if script.name == "gpu_speed.py" and not torch.cuda.is_available():
        print(f"== {script.name}: left out, torch sees no CUDA GPU here", flush=True)
    elif script.name not in ("run_all.py", "labs.py"):
        print(f"== {script.name}", flush=True)
        subprocess.run([sys.executable, str(script)], check=True)
