#!/bin/bash
# extract_bench.sh — end-to-end throughput of `strata extract` (samples/s) at 1 and 2 ranks,
# with and without prefetch, and the share of rank 0's time not spent in the forward pass
# (loading, writing, waiting; from the run's own summary line). Rates count the rounds, after
# setup (loading the checkpoint), which the summary line reports apart. Reference measured in the same
# run: Hugging Face transformers doing the same forward work (tests/bench/extract_bench_hf.py)
# on the same threads. Medians of REPEATS runs.
#   tests/bench/extract_bench.sh [BUILD_DIR]      env: N (16), BATCH (4), REPEATS (3),
#                                                 PRESET (small), THREADS (1 per rank)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
strata="$build/strata"
n=${N:-16}; batch=${BATCH:-4}; repeats=${REPEATS:-3}; preset=${PRESET:-small}
threads=${THREADS:-1}
work=${WORK:-/tmp/strata-extract-bench}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMP_NUM_THREADS=$threads
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE   # PLATFORM.md: these halve GEMM speed (benchmarks only)
mkdir -p "$work"
[ -f "$work/model-$preset/config.json" ] || "$strata" mkmodel --arch llava --preset "$preset" --out "$work/model-$preset"
[ -f "$work/data-$n/manifest.jsonl" ] || "$strata" mkdata --out "$work/data-$n" --n "$n" >/dev/null
model="$work/model-$preset"; manifest="$work/data-$n/manifest.jsonl"

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
run() {  # run NP EXTRA... -> "rate forward_pct"
  local np=$1; shift
  local log
  log=$(mpirun -np "$np" "$strata" extract --model "$model" --data "$manifest" --out "$work/out.h5" \
        --overwrite --progress none --streams image,caption --batch "$batch" "$@" 2>&1)
  local rate fwd
  rate=$(echo "$log" | sed -n 's/.*), \([0-9.]*\) samples\/s; archive.*/\1/p')
  fwd=$(echo "$log" | sed -n 's/.*rounds on rank 0: forward \([0-9.]*\)%.*/\1/p')
  echo "$rate $fwd"
}
echo "strata extract: $preset llava, $n samples, batch $batch, $threads thread(s) per rank, $repeats runs"
declare -A rates fwds
for cfg in "1" "1 --no-prefetch" "2" "2 --no-prefetch"; do
  r=(); f=()
  for ((i = 0; i < repeats; i++)); do
    read -r a b < <(run $cfg)
    r+=("$a"); f+=("$b")
  done
  rates[$cfg]=$(printf '%s\n' "${r[@]}" | median)
  fwds[$cfg]=$(printf '%s\n' "${f[@]}" | median)
  printf '  np %-17s %8.3f samples/s   forward %5.1f%%  not forward %5.1f%%\n' "$cfg" \
    "${rates[$cfg]}" "${fwds[$cfg]}" "$(echo "100 - ${fwds[$cfg]}" | bc -l)"
done
if [ -x /work/refenv/bin/python ]; then
  h=()
  for ((i = 0; i < repeats; i++)); do
    h+=("$(/work/refenv/bin/python "$here/tests/bench/extract_bench_hf.py" "$model" "$manifest" \
           "$batch" "$threads" 2>/dev/null | sed -n 's/samples\/s //p')")
  done
  hf=$(printf '%s\n' "${h[@]}" | median)
  printf '  transformers (1 process, %d thread(s)): %.3f samples/s; strata np 1 / transformers = %.2f\n' \
    "$threads" "$hf" "$(echo "${rates[1]} / $hf" | bc -l)"
fi
