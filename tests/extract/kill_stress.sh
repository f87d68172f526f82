#!/bin/bash
# kill_stress.sh — SIGKILL `strata extract` (2 ranks) at random moments, then resume it with the
# same command, N times; counts resumes that complete, those that found rounds already written,
# and failures (their .partial kept as WORK/bad_I.partial). Not a ctest (random timing): a
# manual check of "nothing already written is lost" with writes a large share of each round
# (a tiny model, every token of every layer of three streams).
#   tests/extract/kill_stress.sh [N] [WORK]   (STRATA_BIN, default build/strata)
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
S=${STRATA_BIN:-$root/build/strata}; n=${1:-25}; W=${2:-/tmp/strata_kill_stress}
mkdir -p "$W"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
[ -f "$W/model/config.json" ] || "$S" mkmodel --arch llava --preset tiny --out "$W/model" >/dev/null
[ -f "$W/data/manifest.jsonl" ] || "$S" mkdata --out "$W/data" --n 2048 --size 64 >/dev/null
args=(--model "$W/model" --data "$W/data/manifest.jsonl" --out "$W/a.h5" --batch 8 --progress none
      --streams image:all,caption:all,vision:all)
ok=0; bad=0; partial=0; early=0
for i in $(seq 1 "$n"); do
  rm -f "$W/a.h5" "$W/a.h5.partial"
  mpirun --oversubscribe -np 2 "$S" extract "${args[@]}" > "$W/log1" 2>&1 &
  pid=$!
  sleep "$(python3 -c 'import random; print(random.uniform(0.5, 2.0))')"
  pkill -9 -f "extract .*--out $W/a.h5"; wait "$pid" 2>/dev/null  # this run's ranks and mpirun
  if [ -f "$W/a.h5" ]; then early=$((early + 1)); continue; fi
  mpirun --oversubscribe -np 2 "$S" extract "${args[@]}" > "$W/log2" 2>&1; rc=$?
  grep -q "resuming" "$W/log2" && partial=$((partial + 1))
  if [ $rc = 0 ] && [ -f "$W/a.h5" ]; then
    ok=$((ok + 1))
  else
    bad=$((bad + 1))
    echo "run $i: resume failed (exit $rc):"; grep -v '^ \|^--\|^$' "$W/log2" | head -4
    cp "$W/a.h5.partial" "$W/bad_$i.partial" 2>/dev/null
  fi
done
echo "resumed ok $ok (from a partial with rounds done: $partial), failed $bad, finished before the kill $early"
[ "$bad" = 0 ]
