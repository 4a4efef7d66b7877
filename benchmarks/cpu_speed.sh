#!/usr/bin/env bash
# The README's CPU-speed figures (issue 16), one after another: run it on a quiet machine, from the
# repository root. cifar-cnn's default run between two matmul canaries (benchmarks/labs.py), the
# Fashion-MNIST CNN's first-layer variants and fit vs hand loops, then the MLP peers (`fit` must stay
# the fastest). PY=... and DATA=... override the interpreter and the shared datasets folder.
set -euo pipefail
PY=${PY:-.venv/bin/python}
DATA=${DATA:-../shared/datasets}
echo "load before: $(cat /proc/loadavg)"
"$PY" benchmarks/labs.py --only cifar-cnn --data "$DATA" --out runs-bench --json cifar-cnn-time.json
"$PY" benchmarks/cnn_throughput.py --only fashion-layers,fashion
"$PY" benchmarks/peers.py --only fit,sklearn,hand --rounds 3
echo "load after: $(cat /proc/loadavg)"
