"""test_extract_nll.py — `strata extract --nll [--intervene SPEC]` end to end (issue 10): the
archive's /nll/caption (per-sample teacher-forced NLL of the caption given image + prompt) equals
transformers with the same intervention done by hooks (tests/golden/interventions/extract_nll.h5,
made by make_interventions.py; versions in its attributes) within 1e-4 relative, per sample.
2 ranks, batch 4 (right padding, uneven split); also checks the attributes (the interventions
string, the FLOPs estimate: > 0 for skips, 0 for an ablation) and that a bad spec is refused
before any archive is written. Then `strata analyze --nll-baseline` (2 ranks) on those archives:
/<model>/nll/{mean, n_used, delta_mean, n_paired} equal numpy on the /nll/caption read back with
h5py (one value set to NaN to check the exclusion), and the bootstrap intervals equal numpy's
percentiles of the means of the resamples analysis/nll.h documents (splitmix64, reimplemented
here from its published definition); a baseline without /nll/caption is refused. Last,
`strata figures --only nll` on those results draws exactly their numbers (each nll.dat block
against the dataset or attribute its header names, read with h5py).
Run by ctest: test_extract_nll.py"""
import os
import sys

import shutil

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "extract"))
import extract_common as ec  # noqa: E402
from extract_common import check  # noqa: E402

ref_path = os.path.join(HERE, "interventions", "extract_nll.h5")
model = ec.assemble_model("llava_clip_llama", os.path.join(ec.TMP, "llava_clip_llama"))
manifest = os.path.join(ec.GOLDEN, "inputs", "manifest.jsonl")
with h5py.File(ref_path, "r") as f:
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    ref_ids = [x.decode() for x in f["samples/id"][()]]
    cases = {name: (f[name].attrs["spec"], f[name]["nll"][()]) for name in f if name != "samples"}
print(f"reference: transformers {attrs['transformers_version']}, torch {attrs['torch_version']}")

base = cases["baseline"][1]
for name, (spec, want) in sorted(cases.items()):
    spec = spec.decode() if isinstance(spec, bytes) else spec
    out = os.path.join(ec.TMP, f"nll_{name}.h5")
    args = ["extract", "--model", model, "--data", manifest, "--out", out, "--overwrite",
            "--streams", "image", "--layers", "0", "--batch", "4", "--template",
            attrs["template"], "--prompt", attrs["prompt"], "--progress", "none", "--nll"]
    if spec:
        args += ["--intervene", spec]
    ec.run(2, args)
    if not check(os.path.exists(out), f"{name}: no archive"):
        continue
    with h5py.File(out, "r") as f:
        ids = [x.decode() if isinstance(x, bytes) else x for x in f["samples/id"][()]]
        got = f["nll/caption"][()]
        a = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f["nll/caption"].attrs.items()}
    check(ids == ref_ids, f"{name}: sample ids {ids} vs {ref_ids}")
    check(got.dtype == np.float64 and got.shape == want.shape, f"{name}: {got.dtype} {got.shape}")
    rel = np.abs(got - want) / np.abs(want)
    print(f"{name:14s} {spec or '(none)':14s} NLL strata {np.round(got, 4)} rel error max "
          f"{rel.max():.2e}; flops saved {a.get('flops_saved_per_sample')}")
    check(np.all(rel <= 1e-4), f"{name}: NLL relative error {rel.max():.3g} > 1e-4")
    check(name == "baseline" or np.abs(want - base).max() > 1e-3,
          f"{name}: the reference equals the baseline (an inert intervention would pass)")
    check(a.get("interventions") == spec, f"{name}: interventions attribute {a.get('interventions')!r}")
    flops = float(a.get("flops_saved_per_sample", -1))
    check(flops > 0 if spec.startswith(("skip", "inject")) else flops == 0,
          f"{name}: flops_saved_per_sample {flops}")

# resume: a .partial with half the samples pending; the same --intervene completes it to the
# reference, another one is refused (the NLL of one archive comes from one intervention)
src = os.path.join(ec.TMP, "nll_skip_ffn_0_1.h5")
for spec, ok in (("inject:1", False), ("skip-ffn:0-1", True)):
    out = os.path.join(ec.TMP, "nll_resume.h5")
    shutil.copy(src, out + ".partial")
    with h5py.File(out + ".partial", "r+") as f:
        f.attrs["complete"] = 0
        f["samples/status"][3:] = 0
        f["nll/caption"][3:] = np.nan
    if os.path.exists(out):
        os.remove(out)
    p = ec.run(2, ["extract", "--model", model, "--data", manifest, "--out", out, "--streams",
                   "image", "--layers", "0", "--batch", "4", "--template", attrs["template"],
                   "--prompt", attrs["prompt"], "--progress", "none", "--nll", "--intervene", spec],
               expect=None)
    if ok:
        check(p.returncode == 0 and "resum" in p.stderr, f"resume {spec}: exit {p.returncode}")
        with h5py.File(out, "r") as f:
            got = f["nll/caption"][()]
        want = cases["skip_ffn_0_1"][1]
        check(np.all(np.abs(got - want) <= 1e-4 * np.abs(want)), f"resumed NLL {got} vs {want}")
    else:
        check(p.returncode != 0 and "was written with interventions 'skip-ffn:0-1'" in p.stderr,
              f"resume with {spec}: exit {p.returncode}, {p.stderr[-500:]}")

# a bad spec is refused with its reason before anything is written
out = os.path.join(ec.TMP, "nll_bad.h5")
for bad, reason in (("skip-ffn:0-5", "out of range"), ("fold:1", "unknown kind")):
    p = ec.run(2, ["extract", "--model", model, "--data", manifest, "--out", out, "--overwrite",
                   "--intervene", bad, "--progress", "none"], expect=None)
    check(p.returncode != 0 and reason in p.stderr, f"{bad}: exit {p.returncode}, {p.stderr[-400:]}")
    check(not os.path.exists(out) and not os.path.exists(out + ".partial"), f"{bad}: archive written")

# ---- strata analyze: mean NLL and its paired change from the baseline ----------------------
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from splitmix import splitmix64  # noqa: E402  (tests/splitmix.py)


def boot(x, B, seed):
    state, means = seed, []
    for _ in range(B):
        idx = []
        for _ in range(len(x)):
            state, z = splitmix64(state)
            idx.append(z % len(x))
        means.append(np.sum(x[idx]) / len(x))
    return np.percentile(np.array(means), [2.5, 97.5])


base_path = os.path.join(ec.TMP, "nll_baseline.h5")
iv_path = os.path.join(ec.TMP, "nll_iv_nan.h5")
shutil.copy(os.path.join(ec.TMP, "nll_skip_ffn_0_1.h5"), iv_path)
with h5py.File(iv_path, "r+") as f:
    f["nll/caption"][2] = np.nan  # a sample without NLL is left out
    iv = f["nll/caption"][()]
    flops_archive = float(f["nll/caption"].attrs["flops_saved_per_sample"])
with h5py.File(base_path, "r") as f:
    bl = f["nll/caption"][()]
res = os.path.join(ec.TMP, "nll_results.h5")
B, SEED = 50, 11
ec.run(2, ["analyze", iv_path, "--nll-baseline", base_path, "--metrics", "spectrum",
           "--bootstrap", str(B), "--seed", str(SEED), "--out", res])
if check(os.path.exists(res), "analyze wrote no results"):
    with h5py.File(res, "r") as f:
        g = f["llava_clip_llama/nll"]
        got = {k: g[k][()] for k in g}
        ga = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.attrs.items()}
    ok = np.isfinite(iv)
    d = iv[ok] - bl[ok]
    want = {"mean": [np.mean(iv[ok])], "n_used": [ok.sum()], "delta_mean": [np.mean(d)],
            "n_paired": [ok.sum()], "mean_interval": boot(iv[ok], B, SEED),
            "delta_interval": boot(d, B, SEED)}
    for k, w in want.items():
        print(f"analyze nll/{k}: strata {got.get(k)} numpy {np.asarray(w)}")
        check(k in got and np.allclose(got[k], w, rtol=1e-12, atol=1e-12), f"nll/{k}: {got.get(k)} vs {w}")
    check(ga.get("interventions") == "skip-ffn:0-1" and ga.get("n_bootstrap") == B and
          float(ga.get("flops_saved_per_sample", -1)) == flops_archive > 0, f"nll attributes {ga}")
    # the NLL figure draws exactly these numbers
    figs = os.path.join(ec.TMP, "nll_figs")
    p = ec.run(1, ["figures", res, "--out", figs, "--only", "nll", "--format", "png"], expect=None)
    if check(p.returncode == 0, f"figures --only nll: exit {p.returncode} {p.stderr[-300:]}"):
        with open(os.path.join(figs, "nll.dat")) as fd:
            blocks = [b for b in fd.read().split("# block ")[1:]]
        drawn = set()
        with h5py.File(res, "r") as f:
            for b in blocks:
                lines = b.splitlines()
                spec = dict(line[len("# column "):].split(": ", 1) for line in lines
                            if line.startswith("# column "))
                rows = [line for line in lines[1:] if line.strip() and not line.startswith("#")]
                row = [float(v) for v in rows[0].split()]
                check(len(rows) == 1 and len(row) == len(spec), f"nll.dat block {b[:40]!r}")
                for col, src in spec.items():
                    if src.startswith("category"):
                        continue
                    if "@" in src:
                        obj, attr = src.split("@")
                        want = float(f[obj].attrs[attr])
                    elif src.endswith("]"):
                        want = f[src[:-3]][int(src[-2])]
                    else:
                        want = f[src][0]
                    drawn.add(src)
                    check(np.isclose(row[int(col) - 1], want, rtol=1e-9, atol=0),
                          f"nll.dat {src}: {row[int(col) - 1]} vs {want}")
        want_drawn = {"/llava_clip_llama/nll/" + k for k in ("mean", "delta_mean")} | \
            {f"/llava_clip_llama/nll/{k}_interval[{i}]" for k in ("mean", "delta") for i in (0, 1)} | \
            {"/llava_clip_llama/nll@flops_saved_per_sample"}
        check(drawn == want_drawn, f"nll figure draws {sorted(drawn)}, expected {sorted(want_drawn)}")
        check(os.path.getsize(os.path.join(figs, "nll.png")) > 0, "nll.png not rendered")
# a baseline without /nll/caption is refused
plain = os.path.join(ec.TMP, "plain.h5")
ec.run(2, ["extract", "--model", model, "--data", manifest, "--out", plain, "--overwrite",
           "--streams", "image", "--layers", "0", "--template", attrs["template"],
           "--prompt", attrs["prompt"], "--progress", "none"])
p = ec.run(2, ["analyze", iv_path, "--nll-baseline", plain, "--metrics", "spectrum", "--out",
               os.path.join(ec.TMP, "nll_bad_results.h5")], expect=None)
check(p.returncode != 0 and "no /nll/caption" in p.stderr, f"plain baseline: {p.returncode} {p.stderr[-300:]}")
ec.finish("test_extract_nll")
