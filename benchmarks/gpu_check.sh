#!/usr/bin/env bash
# Issue 16's GPU checks, in one call of a lent GPU machine (one CUDA GPU; its python3 holds torch,
# layerlab runs from src/ without being installed). What it runs, in order, within DEADLINE seconds:
#   1. benchmarks/gpu_speed.py: images/s of each net's training step per precision and layout, and
#      under torch.compile for the paper's ResNet-18;
#   2. time to accuracy: `resnet-cifar` at the paper's width (64) with bf16 autocast, channels_last and
#      torch.compile, started by torchrun (one process: an ordinary run), EPOCHS epochs of 49,000
#      images, test-time flip;
#   3. `gpu_speed.py --pipeline`: what the labs' data path costs around the step, and where it waits;
#   4. if time is left, a second run: without --compile when the first reached 0.94 (what compile
#      buys, end to end), else with EPOCHS2 epochs.
#   0. on a machine with 2 or more GPUs first: `resnet-cifar --quick` on 2 processes (NCCL, SyncBatchNorm,
#      one GPU each), which a one-GPU machine cannot run; it must end with one run folder.
# Each step has its own time limit, so a slow one cannot take the others' time.
# Usage: bash benchmarks/gpu_check.sh DATA_DIR OUT_DIR [EPOCHS] [EPOCHS2] [DEADLINE]
#   DATA_DIR holds cifar10-jpg.tar.gz (or CIFAR-10 in any form the cifar10 reader takes); OUT_DIR
#   gets 8 flat files: speed.json, pipeline.json, run1.log/.jsonl/.json, run2.log/.jsonl/.json.
# A dry run of the script on a CPU: DEVICE=cpu LAB_ARGS="--quick" SPEED_ARGS="--only 'fashion cnn' --steps 1 --rounds 1"
#   PIPELINE_ARGS="--pipeline-images 512" (several minutes: the pipeline rows train the paper's ResNet-18)
set -u
DATA=$1 OUT=$2 EPOCHS=${3:-30} EPOCHS2=${4:-40} DEADLINE=$((SECONDS + ${5:-480}))
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
RUNS=$(mktemp -d) DEVICE=${DEVICE:-cuda}

{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())"
  echo "cpus $(nproc)"; } 2>&1

lab() {  # lab NAME SECONDS ARGS...: one timed resnet-cifar run; its log, metrics and result into OUT
  local name=$1 limit=$2; shift 2
  local start=$SECONDS
  timeout "$limit" python3 -m torch.distributed.run --standalone --nproc-per-node 1 -m layerlab run resnet-cifar \
      --data-dir "$DATA" --device "$DEVICE" --width 64 --val-fraction 0.02 --tta --no-progress --out "$RUNS/$name" \
      "$@" ${LAB_ARGS:-} 2>&1 | tee "$OUT/$name.log"
  echo "$name: whole command $((SECONDS - start)) s (data, compile, training, test, figures)" | tee -a "$OUT/$name.log"
  for f in metrics.jsonl result.json; do
    cp "$RUNS/$name"/resnet-cifar/*/"$f" "$OUT/$name.${f##*.}" 2>/dev/null
  done
}

accuracy() {  # the test accuracy in a run's result.json (0 if none)
  python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['test_accuracy'])" "$OUT/$1.json" 2>/dev/null || echo 0
}

if [ "$(nvidia-smi -L 2>/dev/null | wc -l)" -ge 2 ]; then
  timeout 120 python3 -m torch.distributed.run --standalone --nproc-per-node 2 -m layerlab run resnet-cifar \
      --data-dir "$DATA" --device cuda --quick --no-progress --out "$RUNS/ddp" 2>&1 | tail -12
  echo "2 GPUs (NCCL): exit ${PIPESTATUS[0]}, run folders: $(ls "$RUNS/ddp/resnet-cifar" 2>/dev/null | wc -l) (expected 1)"
fi
eval timeout 120 python3 benchmarks/gpu_speed.py --device "$DEVICE" --rounds 3 --steps 25 --compile-nets "'resnet18-cifar w64'" \
    --json "$OUT/speed.json" "${SPEED_ARGS:-}" 2>&1
lab run1 $((DEADLINE - SECONDS - 100)) --epochs "$EPOCHS" --compile
timeout 90 python3 benchmarks/gpu_speed.py --device "$DEVICE" --pipeline --json "$OUT/pipeline.json" ${PIPELINE_ARGS:-} 2>&1
first=$(accuracy run1)
echo "run1 test accuracy: $first; $((DEADLINE - SECONDS)) s left"
if [ $((DEADLINE - SECONDS)) -lt 100 ]; then
  echo "no time left for a second run"
elif python3 -c "import sys; sys.exit(float(sys.argv[1]) < 0.94)" "$first"; then
  lab run2 $((DEADLINE - SECONDS)) --epochs "$EPOCHS" --no-compile
else
  lab run2 $((DEADLINE - SECONDS)) --epochs "$EPOCHS2" --compile
fi
