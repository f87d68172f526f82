#!/bin/bash
# jobs/demo.sh — the README's demo command: set up and build, make a tiny random LLaVA
# checkpoint and a small synthetic image/caption set, extract its layer-wise hidden states with
# `mpirun -np 2 strata extract`, then analyze and draw the figures.
#   jobs/demo.sh [OUT_DIR]    (default demo/; N=256 samples, NP=2 ranks from the environment;
#                              analyze needs more than its k = 100 neighbours per layer)
# Steps whose command is not built in this version are skipped with a note (each command answers
# --help once it exists), so the demo runs at every stage of the project.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/demo}
n=${N:-256}
np=${NP:-2}
"$here/tests/setup.sh"
strata="$here/build/strata"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$out"
has() { "$strata" "$1" --help >/dev/null 2>&1; }
step() { echo; echo "== $*"; }

if has mkmodel && has mkdata && has extract; then
  step "a tiny random LLaVA checkpoint (Hugging Face layout)"
  "$strata" mkmodel --arch llava --preset tiny --out "$out/llava-tiny"
  step "$n synthetic images of coloured shapes, with captions"
  "$strata" mkdata --out "$out/data" --n "$n"
  step "extract: image and caption streams, every layer, $np ranks"
  mpirun -np "$np" "$strata" extract --model "$out/llava-tiny" --data "$out/data/manifest.jsonl" \
    --out "$out/archive.h5" --streams image,caption,vision --overwrite --progress lines
elif has mkarchive; then
  step "mkmodel/mkdata/extract not built yet: a synthetic archive instead"
  mpirun -np "$np" "$strata" mkarchive --out "$out/archive.h5" --samples 256 --layers 5 \
    --hidden 64 --overwrite
else
  echo "(no archive writer built yet: nothing more to show)"
  exit 0
fi
if has inspect; then
  step "inspect"
  "$strata" inspect "$out/archive.h5"
fi
if has analyze; then
  step "analyze: spectra, CKA, intrinsic dimension, overlap, alignment, probes ($np ranks)"
  mpirun -np "$np" "$strata" analyze "$out/archive.h5" --out "$out/results.h5" \
    --probe shape,colour,x,y
  if has figures; then
    step "figures"
    "$strata" figures "$out/results.h5" --out "$out/figs"
  fi
else
  echo "(strata analyze is not built yet: skipped, and figures with it)"
fi
echo
echo "demo done: $out"
