#!/bin/bash
# jobs/examples/interventions.sh — the intervention experiments of issue 10 on the demo model: a
# tiny random LLaVA (`strata mkmodel`) and a synthetic image/caption set (`strata mkdata`), the
# caption NLL (`strata extract --nll`) of the baseline and of
#   - the FFN skip of the implicit-alignment experiment: image tokens get no MLP update in the
#     blocks from L/4 on (--intervene skip-ffn:L/4-(L-1)); a skip of the last block alone cannot
#     change the caption NLL (no later block reads the image tokens' states);
#   - inject at layer k: the projector output enters block k, image tokens bypass blocks < k
#     (--intervene inject:k, k = L/2);
# then `strata analyze --nll-baseline` (mean NLL, its paired change, bootstrap intervals:
# /<model>/nll/... in results.h5), a one-line summary per run, and the figure of it
# (`strata figures --only nll`: OUT_DIR/figures/nll.{pdf,png}).
#   jobs/examples/interventions.sh [OUT_DIR]   (default demo/interventions; N samples, NP ranks)
# Environment: STRATA_BIN (default ROOT/build/strata), N (default 64), NP (default 2), PYTHON
# (with h5py, for the summary; default python3).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
strata=${STRATA_BIN:-$root/build/strata}
out=${1:-$root/demo/interventions}
n=${N:-64}
np=${NP:-2}
if [ "$(id -u)" = 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$out"
[ -f "$out/model/config.json" ] || "$strata" mkmodel --arch llava --preset tiny --out "$out/model"
[ -f "$out/data/manifest.jsonl" ] || "$strata" mkdata --out "$out/data" --n "$n" --size 64
layers=$(python3 -c "import json,sys; c=json.load(open(sys.argv[1])); print(c['text_config']['num_hidden_layers'])" "$out/model/config.json")
half=$((layers / 2))
quarter=$((layers / 4))
extract() { # name [--intervene SPEC]
  local name=$1; shift
  mpirun -np "$np" "$strata" extract --model "$out/model" --data "$out/data/manifest.jsonl" \
    --out "$out/$name.h5" --streams image --layers "0,$half,$layers" --nll --overwrite \
    --progress none "$@"
}
extract baseline
extract skip_ffn --intervene "skip-ffn:$quarter-$((layers - 1))"
extract inject --intervene "inject:$half"
mpirun -np "$np" "$strata" analyze "$out/skip_ffn.h5" "$out/inject.h5" \
  --nll-baseline "$out/baseline.h5" --metrics spectrum --bootstrap 1000 --out "$out/results.h5"
"${PYTHON:-python3}" - "$out/results.h5" <<'PY'
import sys
import h5py
with h5py.File(sys.argv[1], "r") as f:
    for model in f:
        if "nll" not in f[model]:
            continue
        g = f[model]["nll"]
        iv = g.attrs["interventions"]
        iv = iv.decode() if isinstance(iv, bytes) else iv
        lo, hi = g["delta_interval"][()]
        print(f"{iv:24s} mean NLL {g['mean'][0]:9.3f}  change {g['delta_mean'][0]:+8.3f} "
              f"[{lo:+.3f}, {hi:+.3f}] over {int(g['n_paired'][0])} samples")
PY
"$strata" figures "$out/results.h5" --out "$out/figures" --only nll
