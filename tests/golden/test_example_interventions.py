#!/usr/bin/env python3
"""test_example_interventions.py — the worked example of issue 10 (jobs/examples/interventions.sh:
the FFN skip of the implicit-alignment experiment and inject-at-layer-k on the demo model) runs
as a user would run it, under mpirun with 2 ranks, and leaves what README says: results.h5 with
one /<model>/nll group per intervention (its spec, the paired change over every sample, the
interval around it), the printed summary, and the NLL figure (PNG decoded by PIL).
Run by ctest: test_example_interventions.py"""
import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
from PIL import Image

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TMP = os.environ.get("STRATA_TEST_TMP", "/tmp")
N = 24
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg, file=sys.stderr)
    return cond


out = os.path.join(TMP, "example_interventions")
shutil.rmtree(out, ignore_errors=True)
env = dict(os.environ, N=str(N), NP="2", PYTHON=sys.executable)
proc = subprocess.run(["bash", os.path.join(ROOT, "jobs", "examples", "interventions.sh"), out],
                      capture_output=True, text=True, env=env)
print(proc.stdout)
check(proc.returncode == 0, f"interventions.sh exit {proc.returncode}: {proc.stderr[-1500:]}")
with open(os.path.join(out, "model", "config.json")) as f:
    layers = json.load(f)["text_config"]["num_hidden_layers"]
want_specs = {f"skip-ffn:{layers // 4}-{layers - 1}", f"inject:{layers // 2}"}
results = os.path.join(out, "results.h5")
if check(os.path.exists(results), "no results.h5"):
    with h5py.File(results, "r") as f:
        groups = {m: f[m]["nll"] for m in f if "nll" in f[m]}
        specs = {}
        for m, g in groups.items():
            spec = g.attrs["interventions"]
            spec = spec.decode() if isinstance(spec, bytes) else spec
            specs[spec] = m
            delta, (lo, hi) = g["delta_mean"][0], g["delta_interval"][()]
            check(g["n_paired"][0] == N and g["n_used"][0] == N, f"{spec}: not every sample used")
            check(lo <= delta <= hi and lo < hi, f"{spec}: interval [{lo}, {hi}] around {delta}")
            check(abs(delta) > 1e-6, f"{spec}: the intervention changed nothing ({delta})")
            check(float(g.attrs["flops_saved_per_sample"]) > 0, f"{spec}: no FLOPs saved")
            check(f"{spec}" in proc.stdout and f"{g['mean'][0]:9.3f}" in proc.stdout,
                  f"{spec}: not in the printed summary")
        check(set(specs) == want_specs, f"interventions {sorted(specs)}, expected {sorted(want_specs)}")
        # the depth figures normalise by: the decoder's layer count, from the model's config
        for m in groups:
            got = f[m]["image"].attrs.get("num_layers")
            check(got == layers, f"/{m}/image num_layers {got}, expected {layers} (config)")
png = os.path.join(out, "figures", "nll.png")
if check(os.path.exists(png), "no figures/nll.png"):
    gray = np.asarray(Image.open(png).convert("L"), dtype=float)
    check(gray.std() > 10, "nll.png is blank")
if failures:
    print(f"{len(failures)} failure(s)")
    sys.exit(1)
print("example interventions: ok")
