"""Analysis engine vs references outside the project, live: dadapy (TwoNN, GRIDE, neighbourhood
overlap), scikit-dimension (TwoNN, MLE), numpy (linear CKA biased/unbiased, SVD spectra,
cosines, retrieval). Synthetic data with known structure (d-dimensional manifolds embedded in D
dims with noise, a layer with duplicate rows), generated here with a seed and handed to the C
driver (tests/analysis/analysis_driver.c) as HDF5; the driver runs at 1, 2 and 3 ranks and the
results must agree within 1e-9 relative (spectra: relative to the largest singular value).

Tolerances (why): ID estimators 1e-6 relative: our neighbour distances are exact in double
from the same float32 rows, so the only differences are summation order and dadapy's GRIDE
bisection stop (1e-7 absolute). CKA 1e-9 on its [-1, 1] scale: float64 Gram tiles. Spectra 1e-9 of the largest singular value (double TSQR vs numpy's SVD)."""
import os
import subprocess
import sys
import warnings

import h5py
import numpy as np

warnings.filterwarnings("ignore")
import dadapy  # noqa: E402
import skdim  # noqa: E402

BUILD = os.environ["STRATA_BUILD_DIR"]
TMP = os.environ.get("STRATA_TEST_TMP", "/tmp")
MPIEXEC = os.environ.get("STRATA_MPIEXEC", "mpirun")
DRIVER = sys.argv[1]
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg)


def close(name, got, want, rel, scale=None):
    got, want = np.asarray(got, float), np.asarray(want, float)
    if got.shape != want.shape:
        check(False, f"{name}: shape {got.shape} != {want.shape}")
        return
    s = np.abs(want) if scale is None else scale
    err = np.max(np.abs(got - want) / np.maximum(s, 1e-300)) if got.size else 0.0
    check(err <= rel, f"{name}: max relative error {err:.3g} > {rel:g}\n got {got.ravel()[:6]}\n want {want.ravel()[:6]}")


rng = np.random.default_rng(20240607)
N, D = 400, 24


def manifold(d, noise):
    """d-dimensional curved manifold in D dims: random Fourier features of a d-dim latent."""
    z = rng.uniform(-1, 1, size=(N, d))
    w = rng.normal(size=(d, D)) * 1.5
    b = rng.uniform(0, 2 * np.pi, size=D)
    return (np.sin(z @ w + b) + noise * rng.normal(size=(N, D))).astype(np.float32)


img = np.stack([manifold(2, 1e-3), manifold(5, 1e-3), rng.normal(size=(N, D)).astype(np.float32)])
cap = (img + 0.3 * rng.normal(size=img.shape)).astype(np.float32)
cap[0, 350:370] = cap[0, 10:30]          # 20 exact duplicate rows in one layer
cap[0, 371] = cap[0, 5]
m1 = np.stack([img[1] @ rng.normal(size=(D, 16)).astype(np.float32) + 5.0,
               np.tanh(img[2][:, :16] * 2).astype(np.float32)])

inp = os.path.join(TMP, "reference_input.h5")
with h5py.File(inp, "w") as f:
    for name, x, layers in [("m0/image", img, [0, 1, 2]), ("m0/caption", cap, [0, 1, 2]),
                            ("m1/image", m1, [0, 4])]:
        f[name] = x
        f[name].attrs["layers"] = np.array(layers, dtype=np.int32)

K_MLE, K_OV, RANGE = 100, 30, 64


def run(np_, out, metrics="all", extra=("m0/image", "m0/caption", "m1/image"), bootstrap=0,
        route="gram", chunks=None):
    cmd = [MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", str(np_), DRIVER, inp, out,
           metrics, str(K_MLE), str(K_OV), str(RANGE), str(bootstrap), route, *extra]
    env = dict(os.environ, STRATA_RING_CHUNKS=chunks) if chunks else None
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    sys.stderr.write(p.stderr[-3000:])
    check(p.returncode == 0, f"driver at np {np_} exited {p.returncode}")
    return out


# CKA by ring Gram tiles at np 1, 2, 3; by feature-space cross products once (np 2). Then np 1
# and 2 with small ring chunks (STRATA_RING_CHUNKS, analysis/ring.c): the own block's mirrored
# tiles, uneven chunks, chunks that do not divide the rows; they must agree like any rank count.
outs = {n: run(n, os.path.join(TMP, f"ref_np{n}.h5")) for n in (1, 2, 3)}
outs["1 (chunks 32,64)"] = run(1, os.path.join(TMP, "ref_np1_chunks.h5"), chunks="32,64")
outs["2 (chunks 24,80)"] = run(2, os.path.join(TMP, "ref_np2_chunks.h5"), chunks="24,80")
R = h5py.File(outs[1], "r")
RF = h5py.File(run(2, os.path.join(TMP, "ref_feature.h5"), "cka,cross", route="feature"), "r")


def dedup(x):
    _, first = np.unique(x, axis=0, return_index=True)
    return x[np.sort(first)].astype(np.float64), len(x) - len(first)


# ---- intrinsic dimension ----
for model, stream, data in [("m0", "image", img), ("m0", "caption", cap), ("m1", "image", m1)]:
    for l in range(data.shape[0]):
        x, ndup = dedup(data[l])
        tag = f"{model}/{stream}[{l}]"
        check(R[f"{model}/{stream}/id/n_duplicates"][l] == ndup,
              f"{tag} duplicates {R[f'{model}/{stream}/id/n_duplicates'][l]} != {ndup}")
        dd = dadapy.Data(x, verbose=False)
        twonn = dd.compute_id_2NN()[0]
        close(f"{tag} twonn vs dadapy", R[f"{model}/{stream}/id/twonn"][l], twonn, 1e-6)
        sk2 = skdim.id.TwoNN().fit(x).dimension_
        close(f"{tag} twonn vs skdim", R[f"{model}/{stream}/id/twonn"][l], sk2, 1e-6)
        mle = skdim.id.MLE().fit(x, n_neighbors=K_MLE).dimension_
        close(f"{tag} mle vs skdim", R[f"{model}/{stream}/id/mle"][l], mle, 1e-6)
        mle_mean = skdim.id.MLE().fit(x, n_neighbors=K_MLE, comb="mean").dimension_
        close(f"{tag} mle_mean vs skdim", R[f"{model}/{stream}/id/mle_mean"][l], mle_mean, 1e-6)
        ids, _, _ = dadapy.Data(x, verbose=False).return_id_scaling_gride(range_max=RANGE)
        close(f"{tag} gride scaling vs dadapy", R[f"{model}/{stream}/id/gride_scaling"][l], ids, 1e-6)
        close(f"{tag} gride n1=16", R[f"{model}/{stream}/id/gride"][l], ids[4], 1e-6)
# known structure: the 2-d and 5-d manifolds
check(1.6 < R["m0/image/id/twonn"][0] < 2.4, f"2-d manifold twonn {R['m0/image/id/twonn'][0]}")
check(3.5 < R["m0/image/id/twonn"][1] < 6.5, f"5-d manifold twonn {R['m0/image/id/twonn'][1]}")

# ---- neighbourhood overlap (no duplicates in these layers) ----
for l in (1, 2):
    ov = dadapy.Data(img[l].astype(np.float64), verbose=False).return_data_overlap(
        coordinates=cap[l].astype(np.float64), k=K_OV)
    close(f"overlap image/caption[{l}]", R["m0/overlap/image__caption"][l], ov, 1e-12)
    ov2 = dadapy.Data(img[1].astype(np.float64), verbose=False).return_data_overlap(
        coordinates=img[2].astype(np.float64), k=K_OV)
    close("overlap_matrix image[1] vs image[2]", R["m0/overlap_matrix/image__image"][1, 2], ov2, 1e-12)
ovx = dadapy.Data(img[1].astype(np.float64), verbose=False).return_data_overlap(
    coordinates=m1[0].astype(np.float64), k=K_OV)
close("cross overlap m0 image[1] vs m1 image[0]", R["cross/m0__m1/overlap/image"][1, 0], ovx, 1e-12)


# ---- CKA (numpy, straight from the definitions) ----
def hsic_biased(x, y):
    n = len(x)
    h = np.eye(n) - 1.0 / n
    k, l = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return np.sum(k * l)


def hsic_unbiased(x, y):
    n = len(x)
    k, l = x @ x.T, y @ y.T
    np.fill_diagonal(k, 0)
    np.fill_diagonal(l, 0)
    one = np.ones(n)
    return (np.trace(k @ l) + (one @ k @ one) * (one @ l @ one) / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * (one @ k @ l @ one)) / (n * (n - 3))


def cka(x, y, h):
    x, y = x.astype(np.float64), y.astype(np.float64)
    return h(x, y) / np.sqrt(h(x, x) * h(y, y))


for route, F in [("gram", R), ("feature", RF)]:
    for h, name in [(hsic_biased, "cka"), (hsic_unbiased, "cka_unbiased")]:
        # CKA lives in [-1, 1]: errors are measured on that scale (entries near 0 have no digits)
        want = np.array([[cka(img[a], cap[b], h) for b in range(3)] for a in range(3)])
        close(f"{route} {name} image__caption", F[f"m0/{name}/image__caption"][()], want, 1e-9, scale=1.0)
        want = np.array([[cka(img[a], img[b], h) for b in range(3)] for a in range(3)])
        close(f"{route} {name} image__image", F[f"m0/{name}/image__image"][()], want, 1e-9, scale=1.0)
        want = np.array([[cka(img[a], m1[b], h) for b in range(2)] for a in range(3)])
        close(f"{route} {name} cross m0__m1 image", F[f"cross/m0__m1/{name}/image"][()], want, 1e-9, scale=1.0)

# ---- spectra ----
for model, stream, data in [("m0", "image", img), ("m1", "image", m1)]:
    for l in range(data.shape[0]):
        x = data[l].astype(np.float64)
        s = np.linalg.svd(x - x.mean(0), compute_uv=False)
        got = R[f"{model}/{stream}/spectrum"][l]
        close(f"{model}/{stream}[{l}] spectrum", got, s, 1e-9, scale=s[0])
        lam = s ** 2
        p = s / s.sum()
        close(f"{model}/{stream}[{l}] effective rank", R[f"{model}/{stream}/effective_rank"][l],
              np.exp(-np.sum(p * np.log(p))), 1e-9)
        close(f"{model}/{stream}[{l}] participation ratio",
              R[f"{model}/{stream}/participation_ratio"][l], lam.sum() ** 2 / np.sum(lam ** 2), 1e-9)
        ev = np.cumsum(lam) / lam.sum()
        check(R[f"{model}/{stream}/pca_id_90"][l] == np.searchsorted(ev, 0.9) + 1, f"{model}/{stream}[{l}] pca_id_90")

# ---- alignment ----
for l in range(3):
    a, b = img[l].astype(np.float64), cap[l].astype(np.float64)
    an, bn = a / np.linalg.norm(a, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
    cos = np.sum(an * bn, axis=1)
    close(f"cosine mean [{l}]", R["m0/alignment/image__caption/cosine_mean"][l], cos.mean(), 1e-9)
    close(f"cosine median [{l}]", R["m0/alignment/image__caption/cosine_median"][l], np.median(cos), 1e-9)
    sim = an @ bn.T
    close(f"retrieval@1 [{l}]", R["m0/alignment/image__caption/retrieval_at_1"][l],
          np.mean(np.argmax(sim, axis=1) == np.arange(N)), 1e-12)
    close(f"retrieval@1 reverse [{l}]", R["m0/alignment/image__caption/retrieval_at_1_reverse"][l],
          np.mean(np.argmax(sim.T, axis=1) == np.arange(N)), 1e-12)
    close(f"norms [{l}]", R["m0/image/norms"][l], np.linalg.norm(a, axis=1).mean(), 1e-9)
x0, x1, x2 = (img[i].astype(np.float64) for i in range(3))


def mcos(u, v):
    return np.mean(np.sum(u * v, axis=1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1))


cc = R["m0/image/consecutive_cosine"][()]
close("consecutive cosine 0->1", cc[0, 0], mcos(x0, x1), 1e-9)
close("consecutive cosine 0->2", cc[0, 1], mcos(x0, x2), 1e-9)
check(np.isnan(cc[2, 0]) and np.isnan(cc[0, 2]), "consecutive cosine beyond the last layer is NaN")
close("m1 consecutive cosine 0->4", R["m1/image/consecutive_cosine"][0, 2],
      mcos(m1[0].astype(np.float64), np.pad(m1[1], ((0, 0), (0, 0))).astype(np.float64)), 1e-9)


# ---- np 1, 2, 3 agree ----
def walk(f):
    out = {}
    f.visititems(lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
    return out


base = walk(R)
for n in [k for k in outs if k != 1]:
    other = walk(h5py.File(outs[n], "r"))
    check(set(other) == set(base), f"np {n}: datasets differ: {set(other) ^ set(base)}")
    for k, v in base.items():
        if k not in other:
            continue
        w = other[k]
        scale = np.max(np.abs(v)) if k.endswith("spectrum") or k.endswith("explained_variance") else None
        if "/cka" in k:
            scale = 1.0
        both_nan = np.isnan(v) & np.isnan(w)
        v2, w2 = np.where(both_nan, 0, v), np.where(both_nan, 0, w)
        close(f"np {n} vs 1: {k}", w2, v2, 1e-9, scale=scale if scale is not None else np.maximum(np.abs(v2), 1e-12))

# ---- zero-variance layer: CKA documented as 0, spectrum zeros; not NaN ----
with h5py.File(inp, "a") as f:
    z = np.stack([img[1], np.full((N, D), 0.25, np.float32)])
    f["z/image"] = z
    f["z/image"].attrs["layers"] = np.array([0, 1], dtype=np.int32)
zout = run(2, os.path.join(TMP, "ref_zero.h5"), "cka,spectrum", ("z/image",))
with h5py.File(zout, "r") as f:
    c = f["z/cka/image__image"][()]
    cu = f["z/cka_unbiased/image__image"][()]
    check(np.all(np.isfinite(c)) and np.all(np.isfinite(cu)), "zero-variance CKA is finite")
    check(c[1, 1] == 0 and c[0, 1] == 0 and cu[0, 1] == 0, f"zero-variance CKA is 0: {c}")
    close("non-degenerate self CKA", c[0, 0], 1.0, 1e-6)
    check(np.all(f["z/image/spectrum"][1] == 0), "zero-variance spectrum is zero")

# ---- bootstrap intervals bracket the estimate ----
bout = run(2, os.path.join(TMP, "ref_boot.h5"), "id", ("m0/image",), bootstrap=40)
with h5py.File(bout, "r") as f:
    for e in ("twonn", "mle", "gride"):
        iv, est = f[f"m0/image/id/{e}_interval"][()], f[f"m0/image/id/{e}"][()]
        check(np.all(iv[:, 0] <= iv[:, 1]) and np.all(iv[:, 0] < est * 1.2) and np.all(iv[:, 1] > est * 0.8),
              f"bootstrap interval {e}: {iv} vs {est}")

print("FAIL" if failures else "PASS", f"({len(failures)} failures)")
sys.exit(1 if failures else 0)
