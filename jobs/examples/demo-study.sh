#!/bin/bash
# jobs/examples/demo-study.sh — make the demo study's inputs and run it: three tiny random
# checkpoints (two LLaVA with different seeds, one Llama text model, `strata mkmodel`) and a
# synthetic image/caption set (`strata mkdata`) under ROOT/demo/study/, then
# `strata study ROOT/jobs/examples/demo.yaml MODE`.
#   jobs/examples/demo-study.sh [--submit | --local | --dry-run | --status]
# MODE defaults to --submit when a Slurm controller answers (sinfo), else --local.
# Environment: STRATA_BIN (default ROOT/build/strata), DEMO_ROOT (default: this repository),
# DEMO_SAMPLES (default 64).
set -euo pipefail
root=${DEMO_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
strata=${STRATA_BIN:-$root/build/strata}
work=$root/demo/study
samples=${DEMO_SAMPLES:-64}

mode=${1:-}
if [ -z "$mode" ]; then
  if sinfo -h >/dev/null 2>&1; then mode=--submit; else mode=--local; fi
fi

# --local runs mpirun here: as root it needs Open MPI's consent.
if [ "$(id -u)" = 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=${OMPI_MCA_rmaps_base_oversubscribe:-1}

mkdir -p "$work/models"
make_model() { # name arch seed
  [ -f "$work/models/$1/config.json" ] ||
    "$strata" mkmodel --arch "$2" --preset tiny --seed "$3" --out "$work/models/$1"
}
make_model llava-tiny-a llava 1
make_model llava-tiny-b llava 2
make_model llama-tiny llama 3
[ -f "$work/data/manifest.jsonl" ] ||
  "$strata" mkdata --out "$work/data" --n "$samples" --size 64 --seed 7

exec "$strata" study "$root/jobs/examples/demo.yaml" "$mode"
