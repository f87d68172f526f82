#!/bin/sh
# bench_forward.sh — forward throughput of strata vs transformers on the `small` preset (CLIP ViT
# 12 x 768 at 224 px + decoder 12 x 1024), f32, every hidden state captured, same threads, same
# inputs, alternating runs in one session. Needs a build (build/) and the fixture Python.
# Usage: [ROUNDS=2] tests/bench/bench_forward.sh [BATCH] [THREADS] [RUNS]   (rounds alternate)
set -e
B=${1:-1}; THREADS=${2:-2}; RUNS=${3:-5}; TEXT=32
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${STRATA_REF_PYTHON:-/work/refenv/bin/python}
DIR=${STRATA_BENCH_MODEL:-/tmp/strata_bench_small}
[ -f "$DIR/model.safetensors" ] || "$ROOT/build/strata" mkmodel --arch llava --preset small --out "$DIR" --seed 1
# OpenBLAS's preset core type and L2 size halve GEMM speed on these machines (PLATFORM.md)
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
for i in $(seq "${ROUNDS:-2}"); do
  "$ROOT/build/tests/bench_forward" "$DIR" "$B" "$TEXT" "$RUNS" "$THREADS"
  "$PY" "$ROOT/tests/bench/bench_forward.py" "$DIR" "$B" "$TEXT" "$RUNS" "$THREADS" 2>/dev/null
done
