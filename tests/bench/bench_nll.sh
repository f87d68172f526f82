#!/bin/bash
# bench_nll.sh — what `strata extract --nll` and `--intervene` cost (issue 10): the same extract
# (image stream, layers 0 and 1, 1 rank, batch 8) of the demo model without --nll, with --nll, and with
# --nll --intervene skip-ffn:0-1 / inject:1; prints the samples/s of RUNS runs as the summary
# reports them (the NLL is one more forward per batch: image input + caption), and the median.
#   tests/bench/bench_nll.sh [WORK_DIR]   (STRATA_BIN, PRESET small|tiny default small, N samples default 16, RUNS default 3)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
strata=${STRATA_BIN:-$root/build/strata}
work=${1:-/tmp/strata_bench_nll}
n=${N:-16}
runs=${RUNS:-3}
mkdir -p "$work"
[ -f "$work/model/config.json" ] || "$strata" mkmodel --arch llava --preset "${PRESET:-small}" --out "$work/model" >/dev/null
[ -f "$work/data/manifest.jsonl" ] || "$strata" mkdata --out "$work/data" --n "$n" --size 64 >/dev/null
one() { # label args...
  local label=$1; shift
  local times=()
  for _ in $(seq "$runs"); do
    t=$("$strata" extract --model "$work/model" --data "$work/data/manifest.jsonl" \
        --out "$work/out.h5" --streams image --layers 0,1 --batch 8 --threads 1 --overwrite \
        --progress none "$@" 2>&1 | sed -n 's/.* \([0-9.]*\) samples\/s.*/\1/p')
    times+=("$t")
  done
  med=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-34s samples/s: %s  median %s\n' "$label" "${times[*]}" "$med"
}
one "no --nll"
one "--nll" --nll
one "--nll --intervene skip-ffn:0-1" --nll --intervene skip-ffn:0-1
one "--nll --intervene inject:1" --nll --intervene inject:1
