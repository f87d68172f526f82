#!/bin/bash
# bench_archive.sh — archive write bandwidth (DESIGN.md, Performance model: "Archive writes are
# bandwidth-bound: the bar is dd to the same disk and h5py"). For f32 and f16, in one run and
# interleaved: `strata mkarchive` at 2 ranks (writer time: create + collective rounds with a
# flush each + finish, content generation excluded), `dd conv=fdatasync` of the same number of
# bytes to the same folder, and h5py (serial) writing an array of the same shape, dtype and
# chunks, then fsync. Medians of REPEAT runs; prints a Markdown table for tests/bench/RESULTS.md.
# usage: tests/bench/bench_archive.sh [DIR] [SAMPLES] [LAYERS] [HIDDEN] [REPEAT]
# BENCH_MPIRUN_ARGS adds mpirun options (e.g. "--mca mpi_yield_when_idle 1" on a shared machine).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:-/tmp/strata-bench}
samples=${2:-3970}   # 33 x 3970 x 4096 x 4 B = 2.15 GB in f32
layers=${3:-32}
hidden=${4:-4096}
repeat=${5:-3}
strata=${STRATA_BIN:-$here/build/strata}
python=${STRATA_PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMP_NUM_THREADS=1
mkdir -p "$dir"
df -h "$dir" >&2

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

for dtype in f32 f16; do
  es=4; [ "$dtype" = f16 ] && es=2
  bytes=$(( (layers + 1) * samples * hidden * es ))
  : > "$dir/strata.$dtype.t"; : > "$dir/dd.$dtype.t"; : > "$dir/h5py.$dtype.t"
  for run in $(seq "$repeat"); do
    # dd: same bytes, same folder, data forced to disk before it reports
    sync
    t0=$(date +%s.%N)
    dd if=/dev/zero of="$dir/dd.bin" bs=16M count="$bytes" iflag=count_bytes conv=fdatasync 2>/dev/null
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l >> "$dir/dd.$dtype.t"
    rm -f "$dir/dd.bin"
    # strata: 2 ranks, collective rounds; the program prints its writer time
    sync
    out=$(mpirun ${BENCH_MPIRUN_ARGS:-} -np 2 "$strata" mkarchive --out "$dir/a.h5" --samples "$samples" \
          --layers "$layers" --hidden "$hidden" --dtype "$dtype" --rounds 8 --overwrite)
    echo "$out" >&2
    echo "$out" | sed -n 's/.*activation bytes, \([0-9.]*\) s in the writer.*/\1/p' >> "$dir/strata.$dtype.t"
    rm -f "$dir/a.h5"
    # h5py: the same shape, dtype and chunking from one process, then fsync
    sync
    "$python" - "$dir/h.h5" "$layers" "$samples" "$hidden" "$dtype" >> "$dir/h5py.$dtype.t" <<'PY'
import os, sys, time
import h5py, numpy as np
path, L, N, D, dtype = sys.argv[1], int(sys.argv[2]) + 1, int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
dt = np.float16 if dtype == "f16" else np.float32
X = (np.arange(N * D, dtype=np.float32).reshape(N, D) % 1000 / 7).astype(dt)  # one layer
rows = max(1, min(N, (4 << 20) // (D * np.dtype(dt).itemsize)))  # strata's chunking
t0 = time.perf_counter()
with h5py.File(path, "w") as f:
    d = f.create_dataset("activations/image", (L, N, D), dtype=dt, chunks=(1, rows, D))
    for l in range(L):
        d[l] = X
fd = os.open(path, os.O_RDONLY); os.fsync(fd); os.close(fd)
print(time.perf_counter() - t0)
os.remove(path)
PY
  done
  s=$(median < "$dir/strata.$dtype.t"); d=$(median < "$dir/dd.$dtype.t"); h=$(median < "$dir/h5py.$dtype.t")
  awk -v dt="$dtype" -v b="$bytes" -v s="$s" -v d="$d" -v h="$h" 'BEGIN {
    printf "| %s | %.2f GB | %.2f s (%.2f GB/s) | %.2f s (%.2f GB/s) | %.2f s (%.2f GB/s) | %.0f%% | %.2fx |\n",
      dt, b / 1e9, s, b / s / 1e9, d, b / d / 1e9, h, b / h / 1e9, 100 * d / s, h / s }'
  echo "runs ($dtype): strata $(tr '\n' ' ' < "$dir/strata.$dtype.t")| dd $(tr '\n' ' ' < "$dir/dd.$dtype.t")| h5py $(tr '\n' ' ' < "$dir/h5py.$dtype.t")" >&2
done
