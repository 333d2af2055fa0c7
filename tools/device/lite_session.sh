#!/usr/bin/env bash
# One call on a lent GPU machine for the lite model (issue 17): train the lite variants one
# after the other (tools.device.train_lite_device: the library's loop) for TRAIN_SECONDS, then
# profile the main model's GPU time and the lite models' images/s (tools.device.gpu_profile). At most 8 files land in
# $OUT: lite_<variant>.npz (4), lite_metrics.csv, lite_summary.json, gpu_profile.json,
# session.log. Needs the packs of tools/device/pack_training_data.py in .devpack/ (carried).
#   usage: bash tools/device/lite_session.sh TRAIN_SECONDS PROFILE_SECONDS [VARIANTS]
set -u
cd "$(dirname "$0")/../.."
TRAIN=${1:-330}; PROFILE=${2:-150}; VARIANTS=${3:-w16d1,w32d1,w32d2,w32d1-nodistill}
PY=${PY:-python3}; OUT=${OUT:-out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
exec > >(tee "$OUT/session.log") 2>&1
T0=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || true
"$PY" -c "import jax, flax, numpy, PIL; print('jax', jax.__version__, jax.devices(), 'flax', flax.__version__, 'numpy', numpy.__version__)"
timeout $((TRAIN + 60)) "$PY" -m tools.device.train_lite_device --content-pack .devpack/content.npz \
    --style-pack .devpack/style.npz --out "$OUT" --seconds "$TRAIN" --variants "$VARIANTS" ${TRAIN_ARGS:-}
echo "train exit $? after $(( $(date +%s) - T0 )) s"
LITE=$(ls "$OUT"/lite_*.npz 2>/dev/null | paste -sd, -)
timeout "$PROFILE" "$PY" -m tools.device.gpu_profile --out "$OUT" --lite "$LITE" ${PROFILE_ARGS:-}
echo "profile exit $? after $(( $(date +%s) - T0 )) s"
