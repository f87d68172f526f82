"""Ridge probes vs scikit-learn: strata's cross-validated probe scores (outer folds, alpha chosen
by inner CV) must equal sklearn's RidgeClassifier / Ridge + GridSearchCV on the same folds
within 1e-6, and the chosen alphas must be the same, at 1, 2 and 3 MPI ranks.
Usage: test_probe.py PROBE_DRIVER"""
import os
import subprocess
import sys

import h5py
import numpy as np
from sklearn.linear_model import Ridge, RidgeClassifier
from sklearn.model_selection import GridSearchCV, PredefinedSplit

driver = sys.argv[1]
tmp = os.environ.get("STRATA_TEST_TMP", "/tmp")
mpiexec = os.environ.get("STRATA_MPIEXEC", "mpirun")
rng = np.random.default_rng(7)
failures = 0


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", msg)


def make_case(name, kind, n, d, n_classes=0, missing=0):
    x = rng.normal(size=(n, d)).astype(np.float32)
    x[:, 0] += 3.0  # an offset: centring must be right
    w = rng.normal(size=d)
    signal = x.astype(np.float64) @ w
    alphas = np.array([0.01, 1.0, 30.0, 1000.0])
    path = os.path.join(tmp, f"probe_{name}_in.h5")
    with h5py.File(path, "w") as f:
        f["x"] = x
        f["alphas"] = alphas
        f.attrs["kind"] = np.bytes_(kind)
        f.attrs["n_folds"] = 5
        f.attrs["n_inner_folds"] = 3
        f.attrs["seed"] = 11
        if kind == "classify":
            # classes from quantiles of a noisy linear signal: learnable but not perfectly
            s = signal + rng.normal(scale=2.0 * signal.std(), size=n)
            y = np.digitize(s, np.quantile(s, np.linspace(0, 1, n_classes + 1)[1:-1])).astype(np.int32)
            y[rng.choice(n, missing, replace=False)] = -1
            f["class_of"] = y
            f.attrs["n_classes"] = n_classes
        else:
            y = signal + rng.normal(scale=1.5 * signal.std(), size=n)
            y[rng.choice(n, missing, replace=False)] = np.nan
            f["value"] = y
    return path, x, y, alphas


def sklearn_scores(kind, x, y, fold, inner, alphas):
    x64 = x.astype(np.float64)
    scores, chosen = [], []
    for k in range(fold.max() + 1):
        tr, te = (fold >= 0) & (fold != k), fold == k
        est = RidgeClassifier() if kind == "classify" else Ridge()
        gs = GridSearchCV(est, {"alpha": list(alphas)}, cv=PredefinedSplit(inner[k][tr]))
        gs.fit(x64[tr], y[tr])
        scores.append(gs.score(x64[te], y[te]))
        chosen.append(gs.best_params_["alpha"])
    return np.array(scores), np.array(chosen)


cases = [
    ("multiclass", "classify", 240, 12, 3, 9),
    ("binary", "classify", 200, 30, 2, 0),
    ("regress", "regress", 210, 16, 0, 5),
]
for name, kind, n, d, c, missing in cases:
    path, x, y, alphas = make_case(name, kind, n, d, c, missing)
    first = None
    for np_ in (1, 2, 3):
        out = os.path.join(tmp, f"probe_{name}_np{np_}.h5")
        r = subprocess.run([mpiexec, "--allow-run-as-root", "--oversubscribe", "-np", str(np_),
                            driver, path, out], capture_output=True, text=True)
        check(r.returncode == 0, f"{name} np={np_}: driver failed: {r.stderr[-2000:]}")
        if r.returncode != 0:
            continue
        with h5py.File(out) as f:
            fold, inner = f["fold"][:], f["inner_fold"][:]
            got, got_alpha = f["fold_score"][:], f["fold_alpha"][:]
            mean = f["score_mean"][0]
        labelled = (y >= 0) if kind == "classify" else ~np.isnan(y)
        check(np.array_equal(fold >= 0, labelled), f"{name}: unlabelled rows must be excluded")
        ref, ref_alpha = sklearn_scores(kind, x, y, fold, inner, alphas)
        err = np.max(np.abs(got - ref))
        print(f"{name} np={np_}: strata {np.round(got, 6)} sklearn {np.round(ref, 6)} "
              f"alphas {got_alpha} / {ref_alpha} max|diff| {err:.2e}")
        check(err <= 1e-6, f"{name} np={np_}: fold scores differ from sklearn by {err}")
        check(np.array_equal(got_alpha, ref_alpha), f"{name} np={np_}: alphas {got_alpha} != {ref_alpha}")
        check(abs(mean - ref.mean()) <= 1e-6, f"{name}: mean score")
        if first is None:
            first = got
        else:
            check(np.array_equal(first, got) or np.max(np.abs(first - got)) <= 1e-9,
                  f"{name}: np={np_} differs from np=1")
print("test_probe:", "FAIL" if failures else "PASS")
sys.exit(1 if failures else 0)
