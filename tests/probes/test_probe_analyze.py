"""`strata analyze --probe` vs scikit-learn, end to end: a synthetic archive (strata mkarchive,
some samples failed), a manifest whose labels are derived from the activations (a class label,
a numeric one, some samples unlabelled), analyze at 1 and 2 ranks, and the same cross-validated
ridge fits done by sklearn (RidgeClassifier / Ridge in GridSearchCV with the same folds; the
fold assignment is strata's documented seeded shuffle, re-implemented here). Scores within 1e-6,
alphas equal, np 1 == np 2. Also: a label missing from the manifest is refused by name."""
import json
import os
import subprocess
import sys

import h5py
import numpy as np
from sklearn.linear_model import Ridge, RidgeClassifier
from sklearn.model_selection import GridSearchCV, PredefinedSplit

strata = os.environ["STRATA_BIN"]
tmp = os.environ.get("STRATA_TEST_TMP", "/tmp")
mpiexec = os.environ.get("STRATA_MPIEXEC", "mpirun")
failures = 0


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", msg)


def run(cmd, np_=1, ok=True):
    full = [mpiexec, "--allow-run-as-root", "--oversubscribe", "-np", str(np_)] + cmd
    r = subprocess.run(full, capture_output=True, text=True)
    if ok and r.returncode != 0:
        print(r.stdout, r.stderr)
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    return r


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from splitmix import M64, splitmix64  # noqa: E402  (tests/splitmix.py)


def shuffle(idx, seed):
    idx = list(idx)
    state = seed
    for i in range(len(idx) - 1, 0, -1):
        state, r = splitmix64(state)
        j = r % (i + 1)
        idx[i], idx[j] = idx[j], idx[i]
    return idx


def folds(labelled, k, seed):
    fold = np.full(len(labelled), -1)
    for p, i in enumerate(shuffle(np.flatnonzero(labelled), seed)):
        fold[i] = p % k
    return fold


def inner_folds(fold, k, n_inner, seed):
    inner = np.full(len(fold), -1)
    train = np.flatnonzero((fold >= 0) & (fold != k))
    s = seed ^ ((0xD1B54A32D192ED03 * (k + 1)) & M64)
    for p, i in enumerate(shuffle(train, s)):
        inner[i] = p % n_inner
    return inner


archive = os.path.join(tmp, "probe_archive.h5")
run([strata, "mkarchive", "--out", archive, "--samples", "150", "--layers", "2", "--hidden", "12",
     "--fail-every", "13", "--seed", "3", "--overwrite"], 2)
with h5py.File(archive) as f:
    ids = [x.decode() if isinstance(x, bytes) else x for x in f["samples/id"][:]]
    ok = f["samples/status"][:] == 1
    acts = f["activations/image"][:]          # [L+1, N, D]
    layers = f["activations/image"].attrs["layers"]

# labels from layer 1's activations (columns 2.. avoid the huge/subnormal columns 0 and 1)
rng = np.random.default_rng(5)
x1 = acts[1][:, 2:].astype(np.float64)
s = x1 @ rng.normal(size=x1.shape[1])
cls = np.where(s + rng.normal(scale=0.7 * s.std(), size=len(s)) > np.median(s), "high", "low")
cls[s > np.quantile(s, 0.8)] = "top"
val = x1 @ rng.normal(size=x1.shape[1]) + rng.normal(scale=0.5, size=len(s))
manifest = os.path.join(tmp, "probe_manifest.jsonl")
with open(manifest, "w") as f:
    for i, sid in enumerate(ids):
        rec = {"id": sid, "image": "none.jpg", "caption": "x"}
        if i % 11 != 5:
            rec["cls"] = str(cls[i])
        if i % 9 != 2:
            rec["val"] = float(val[i])
        f.write(json.dumps(rec) + "\n")

K, KI, seed = 4, 3, 7
alphas = [1e-2, 1e-1, 1, 10, 100, 1e3, 1e4]
results = {}
for np_ in (1, 2):
    out = os.path.join(tmp, f"probe_results_np{np_}.h5")
    run([strata, "analyze", archive, "--out", out, "--metrics", "spectrum", "--probe", "cls,val",
         "--probe-manifest", manifest, "--probe-folds", str(K), "--seed", str(seed)], np_)
    with h5py.File(out) as f:
        g = f[[k for k in f.keys() if k != "cross"][0]]["image/probe"]
        results[np_] = {lab: (g[lab]["fold_score"][:], g[lab]["alpha"][:], g[lab].attrs["kind"])
                        for lab in ("cls", "val")}

rows = np.flatnonzero(ok)  # the analysed rows, in order
for lab, kind in (("cls", "classify"), ("val", "regress")):
    got_score, got_alpha, got_kind = results[1][lab]
    check((got_kind.decode() if isinstance(got_kind, bytes) else got_kind) == kind, f"{lab}: kind")
    if lab == "cls":
        y_all = np.array([cls[i] if i % 11 != 5 else None for i in range(len(ids))], dtype=object)
    else:
        y_all = np.array([val[i] if i % 9 != 2 else np.nan for i in range(len(ids))])
    y = y_all[rows]
    labelled = np.array([v is not None for v in y]) if lab == "cls" else ~np.isnan(y.astype(float))
    fold = folds(labelled, K, seed)
    for li in range(len(layers)):
        x = acts[li][rows].astype(np.float64)
        for k in range(K):
            inner = inner_folds(fold, k, KI, seed)
            tr, te = (fold >= 0) & (fold != k), fold == k
            est = RidgeClassifier() if kind == "classify" else Ridge()
            yy = y if kind == "classify" else y.astype(float)
            gs = GridSearchCV(est, {"alpha": alphas}, cv=PredefinedSplit(inner[tr]))
            gs.fit(x[tr], yy[tr])
            ref = gs.score(x[te], yy[te])
            err = abs(got_score[li, k] - ref)
            check(err <= 1e-6, f"{lab} layer {layers[li]} fold {k}: strata {got_score[li, k]} sklearn {ref}")
            check(got_alpha[li, k] == gs.best_params_["alpha"],
                  f"{lab} layer {layers[li]} fold {k}: alpha {got_alpha[li, k]} vs {gs.best_params_['alpha']}")
        print(f"{lab} layer {layers[li]}: fold scores {np.round(got_score[li], 4)}")
    check(np.allclose(results[1][lab][0], results[2][lab][0], rtol=0, atol=1e-9), f"{lab}: np 1 vs 2")
    check(np.array_equal(results[1][lab][1], results[2][lab][1]), f"{lab}: alphas np 1 vs 2")

# the probe figure draws exactly the scores of the results file
figs = os.path.join(tmp, "probe_figs")
r = subprocess.run([strata, "figures", os.path.join(tmp, "probe_results_np1.h5"), "--out", figs,
                    "--only", "probe", "--format", "png"], capture_output=True, text=True)
check(r.returncode == 0, f"figures --only probe failed: {r.stderr[-400:]}")
blocks, path = {}, None
if r.returncode == 0:
    for line in open(os.path.join(figs, "probe.dat")):
        if line.startswith("# column 3: "):
            path = line.split(": ", 1)[1].strip()
            blocks[path] = []
        elif line.strip() and not line.startswith("#") and path:
            blocks[path].append(float(line.split()[2]))
with h5py.File(os.path.join(tmp, "probe_results_np1.h5")) as f:
    for lab in ("cls", "val"):
        want = [p for p in blocks if p.endswith(f"/probe/{lab}/score")]
        check(len(want) == 1, f"probe figure: one line for {lab}, got {want}")
        for p in want:
            check(np.allclose(blocks[p], f[p][:], rtol=1e-9, atol=0), f"probe figure {p} != results")

r = run([strata, "analyze", archive, "--out", os.path.join(tmp, "x.h5"), "--metrics", "spectrum",
         "--probe", "nosuchlabel", "--probe-manifest", manifest], 1, ok=False)
check(r.returncode != 0 and "nosuchlabel" in r.stderr and manifest in r.stderr,
      f"missing label must be refused naming it and the manifest: {r.stderr[-400:]}")
print("test_probe_analyze:", "FAIL" if failures else "PASS")
sys.exit(1 if failures else 0)
