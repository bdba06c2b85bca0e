#!/usr/bin/env bash
# The GPU figures of docs/gpu.md in one run, on the embedded synthetic data at the `full` preset's sizes:
# build the data and the mosaic and waves features in a scratch directory (your params.yaml and data stay as
# they are), then time the neural models without data loading (bench_nn.py, AMP off and on) and with it
# (full_epoch.py: `full` epochs of the real data's size, the 5-fold time they give, and a CPU-vs-GPU check of
# the predictions).
#
#   bash benchmarks/gpu_check.sh [PARAMS] [OUT_DIR]
#
# PARAMS: the params file to time (default: the full preset on the synthetic data, random initial weights,
# 16 data workers). OUT_DIR (default ./gpu_check) receives bench_nn.json, full_epoch.json and the log.
# PYTHON (default python) runs it; STEPS (default 20) is bench_nn's timed steps per model.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mkdir -p "${2:-gpu_check}" && cd "${2:-gpu_check}" && pwd)
PY=${PYTHON:-python}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export PYTHONPATH=$REPO${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1

if [ -n "${1:-}" ]; then
    cp "$1" "$WORK/params.yaml"
else
    "$PY" - "$WORK/params.yaml" <<'EOF'
import sys, yaml
from hms.presets import preset
p = preset("full")
p["data"] = {"source": "synthetic", "dir": "data/synthetic"}
for block in ("synth", "prepare", "features"):
    p[block]["workers"] = 16
for m in ("efficientnet", "resnet"):
    p[m].update(pretrained=False, weights=None)  # speed does not depend on the initial weights
yaml.safe_dump(p, open(sys.argv[1], "w"), sort_keys=False)
EOF
fi
cd "$WORK"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || echo "no nvidia-smi"
"$PY" -c "import os, torch, timm; print('torch', torch.__version__, 'timm', timm.__version__, 'cuda', torch.cuda.is_available(), 'cores', os.cpu_count())"

start=$SECONDS
"$PY" "$REPO/stages/synth.py" data/synthetic
"$PY" "$REPO/stages/prepare.py"
for kind in mosaic waves; do "$PY" "$REPO/stages/features.py" "$kind"; done
echo "data and features: $((SECONDS - start)) s"

"$PY" "$REPO/benchmarks/bench_nn.py" --params params.yaml --models efficientnet resnet wave sparcnet \
    --steps "${STEPS:-20}" --out "$OUT/bench_nn.json"
# 17 x the embedded 1,000 eegs: epochs of the real data's size
"$PY" "$REPO/benchmarks/full_epoch.py" --repeat 17 --check-rows 16 --out "$OUT/full_epoch.json"
