#!/usr/bin/env bash
# One call on a lent GPU machine: the GPU benchmark, then release-decoder training until the
# time budget is spent. Everything lands in $OUT (at most 8 files come back):
#   bench_<tag>.json/.md, bench.log, decoder.npz, metrics.csv, train_summary.json, train.log
# Needs the packs made by tools/device/pack_training_data.py in .devpack/ (carried, git-ignored).
# Runs in the repository root (the tools run as modules of the package 'tools'; a relative
# OUT is relative to the root):
#   usage: bash tools/device/gpu_session.sh TOTAL_SECONDS BENCH_SECONDS TAG
set -u
cd "$(dirname "$0")/../.."
TOTAL=${1:-540}; BENCH=${2:-150}; TAG=${3:-gpu}; PY=${PY:-python3}
OUT=${OUT:-out}; mkdir -p "$OUT"
T0=$(date +%s)
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv
"$PY" -c "import jax, flax, numpy, PIL, torch; print('jax', jax.__version__, jax.devices(), 'flax', flax.__version__, 'numpy', numpy.__version__, 'pillow', PIL.__version__, 'torch', torch.__version__)"

# XLA takes 75% of GPU memory by default; torch shares the process in the benchmark.
XLA_PYTHON_CLIENT_MEM_FRACTION=0.45 timeout $((BENCH + 90)) "$PY" -m tools.bench.bench \
    --device gpu --tag "$TAG" --budget-s "$BENCH" --repeats 5 --repeats-heavy 5 --out "$OUT" \
    > "$OUT/bench.log" 2>&1
echo "bench exit $? after $(( $(date +%s) - T0 )) s"; tail -n 30 "$OUT/bench.log"

LEFT=$(( TOTAL - ($(date +%s) - T0) - 25 ))
echo "training for ${LEFT} s"
"$PY" -m tools.device.train_device --content-pack .devpack/content.npz --style-pack .devpack/style.npz \
    --out "$OUT" --seconds "$LEFT" > "$OUT/train.log" 2>&1
echo "train exit $? after $(( $(date +%s) - T0 )) s"; tail -n 25 "$OUT/train.log"
