#!/bin/bash
# jobs/demo.sh — the README's demo command: set up, build, and run the main job on the
# built-in default (synthetic model + synthetic paired dataset) under mpirun.
# Output goes to demo/ (or $1).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/demo}
"$here/tests/setup.sh"
strata="$here/build/strata"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMP_NUM_THREADS=1
mkdir -p "$out"
mpirun -np 2 "$strata" mkarchive --out "$out/archive.h5" --samples 256 --layers 5 --hidden 64 --overwrite
"$strata" inspect "$out/archive.h5"
