"""Benchmark of `strata analyze` next to the references on the same data and cores, in one run:
TwoNN + GRIDE vs dadapy, L x L linear CKA vs numpy (feature-space formula of Kornblith et al.
2019, biased and debiased, one call per layer pair as researchers write it), results compared.
Also peak RSS per rank at N and N/2 (memory O(N/P x D x layers + tile)).

usage: bench_analysis.py STRATA_BIN WORKDIR [--n 20000] [--d 1024] [--layers 9] [--ranks 2]
                         [--repeat 3] [--dadapy-layers 9]
The archive is written with h5py in format v1 (d-dimensional curved manifolds, d = 4 + layer,
in D dims with noise). Our runs: mpirun -np RANKS with OMP_NUM_THREADS=1 per rank; references:
OPENBLAS/OMP threads = RANKS. Prints a Markdown table."""
import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time
import warnings

import h5py
import numpy as np

warnings.filterwarnings("ignore")

ap = argparse.ArgumentParser()
ap.add_argument("strata")
ap.add_argument("workdir")
ap.add_argument("--n", type=int, default=20000)
ap.add_argument("--d", type=int, default=1024)
ap.add_argument("--layers", type=int, default=9)
ap.add_argument("--ranks", type=int, default=2)
ap.add_argument("--repeat", type=int, default=3)
ap.add_argument("--dadapy-layers", type=int, default=9)
args = ap.parse_args()
N, D, L, P = args.n, args.d, args.layers, args.ranks
os.makedirs(args.workdir, exist_ok=True)
arch = os.path.join(args.workdir, f"bench_{N}_{D}_{L}.h5")

if not os.path.exists(arch):
    rng = np.random.default_rng(1)
    with h5py.File(arch + ".tmp", "w") as f:
        f.attrs["format"] = "strata-activations"
        f.attrs["format_version"] = 1
        f.attrs["complete"] = 1
        f.require_group("model").attrs["name"] = "bench"
        f.require_group("dataset").attrs["manifest_sha256"] = "0" * 64
        f["samples/id"] = np.array([f"s{i}" for i in range(N)], dtype=object).astype(h5py.string_dtype())
        f["samples/status"] = np.ones(N, np.int8)
        f["samples/error"] = np.array([""] * N, dtype=object).astype(h5py.string_dtype())
        ds = f.create_dataset("activations/image", (L, N, D), dtype=np.float32, chunks=(1, min(N, 1024), D))
        ds.attrs["layers"] = np.arange(L, dtype=np.int64)
        ds.attrs["hidden_size"] = D
        ds.attrs["pool"] = "mean"
        for l in range(L):
            d = 4 + l
            z = rng.uniform(-1, 1, size=(N, d)).astype(np.float32)
            w = rng.normal(size=(d, D)).astype(np.float32)
            ds[l] = np.sin(z @ w + rng.uniform(0, 6, size=D).astype(np.float32)) + \
                1e-2 * rng.normal(size=(N, D)).astype(np.float32)
    os.rename(arch + ".tmp", arch)

env_ours = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def ours(metrics, out, extra=()):
    cmd = ["mpirun", "--oversubscribe", "-np", str(P), "--bind-to", "none", args.strata, "analyze", arch,
           "--out", out, "--metrics", metrics, "--k", "64", "--verbose", *extra]
    t = time.time()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, capture_output=True, text=True, env=env_ours)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    dt = time.time() - t
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if p.returncode != 0:
        sys.exit(f"strata analyze failed: {p.stderr[-2000:]}")
    return (dt, cpu), p.stderr


def median_time(fn, n):
    """Median wall and CPU seconds (CPU: all processes and threads; robust on a shared machine)."""
    ts, last = [], None
    for _ in range(n):
        t, last = fn()
        ts.append(t)
    return (statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts)), ts, last


def clock():
    return time.time(), time.process_time()


def since(c):
    return time.time() - c[0], time.process_time() - c[1]


rows = []


def report(row):
    what, t, ts, ref, tr, res = row
    runs = ", ".join(f"{a:.0f}/{b:.0f}" for a, b in ts)
    print(f"| {what} | {t[0]:.1f} / {t[1]:.1f} | {runs} | {ref} | {tr[0]:.1f} / {tr[1]:.1f} | "
          f"{tr[0] / t[0]:.1f}x / {tr[1] / t[1]:.1f}x | {res} |", flush=True)


print(f"\nN = {N}, D = {D}, {L} layers, {P} ranks; medians of {args.repeat} runs (wall/CPU seconds; "
      "CPU = all processes and threads)\n")
print("| what | strata wall / CPU s | runs wall/CPU (s) | reference | ref. wall / CPU s | speed-up wall / CPU | results |")
print("|---|---|---|---|---|---|---|", flush=True)
# ---- ID: strata vs dadapy ----
out_id = os.path.join(args.workdir, "r_id.h5")
t_id, ts_id, log_id = median_time(lambda: ours("id", out_id), args.repeat)
import dadapy  # noqa: E402

with h5py.File(arch) as f, h5py.File(out_id) as r:
    t0 = clock()
    worst = 0.0
    nl = min(args.dadapy_layers, L)
    for l in range(nl):
        x = f["activations/image"][l].astype(np.float64)
        twonn = dadapy.Data(x, verbose=False, n_jobs=P).compute_id_2NN()[0]
        gride, _, _ = dadapy.Data(x, verbose=False, n_jobs=P).return_id_scaling_gride(range_max=64)
        worst = max(worst, abs(r["bench/image/id/twonn"][l] - twonn) / twonn,
                    np.max(np.abs(r["bench/image/id/gride_scaling"][l] - gride) / gride))
    t_dadapy = tuple(v * L / nl for v in since(t0))
report(("TwoNN + GRIDE (+ MLE k=64), all layers", t_id, ts_id, f"dadapy {dadapy.__version__ if hasattr(dadapy, '__version__') else ''} compute_id_2NN + return_id_scaling_gride(64)"
        + ("" if nl == L else f", {nl} of {L} layers timed, x{L}/{nl}"), t_dadapy, f"max rel diff {worst:.1e}"))
ring = re.findall(r"ring: (\d+) bytes in (\d+) messages sent \(data (\d+) bytes, \(P-1\)/P share (\d+)\)", log_id)
rss_full = (max(float(m) for m in re.findall(r"peak RSS ([\d.]+) MB", log_id)),
            max(float(m) for m in re.findall(r"local rows \d+ \(([\d.]+) MB\)", log_id)))
_, log_half = ours("id", os.path.join(args.workdir, "r_half.h5"), ("--samples", str(N // 2)))
rss_half = (max(float(m) for m in re.findall(r"peak RSS ([\d.]+) MB", log_half)),
            max(float(m) for m in re.findall(r"local rows \d+ \(([\d.]+) MB\)", log_half)))
notes = [f"- ring bytes sent by a rank: {b} in {m} messages; (P-1)/P of the data: {share}" for b, m, d, share in ring]
notes += [f"- N = {N // 2}: peak RSS per rank {rss_half[0]:.0f} MB (local rows {rss_half[1]:.0f} MB)",
          f"- N = {N}: peak RSS per rank {rss_full[0]:.0f} MB (local rows {rss_full[1]:.0f} MB)"]

# ---- CKA: strata vs numpy ----
out_cka = os.path.join(args.workdir, "r_cka.h5")
t_cka, ts_cka, log_cka = median_time(lambda: ours("cka", out_cka), args.repeat)


def cka_numpy(x, y, debiased):
    """Feature-space linear CKA (Kornblith et al. 2019; debiased: Song et al. 2012's HSIC)."""
    x = x - x.mean(0, keepdims=True)
    y = y - y.mean(0, keepdims=True)
    n = x.shape[0]

    def hsic(a, b):
        dot = np.linalg.norm(a.T @ b) ** 2
        if not debiased:
            return dot
        sa, sb = np.sum(a * a, 1), np.sum(b * b, 1)
        ka, kb = a @ a.sum(0) - sa, b @ b.sum(0) - sb
        return (dot - sa @ sb + (np.sum(a.sum(0) ** 2) - sa.sum()) * (np.sum(b.sum(0) ** 2) - sb.sum())
                / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * (ka @ kb)) / (n * (n - 3))
    return hsic(x, y) / np.sqrt(hsic(x, x) * hsic(y, y))


with h5py.File(arch) as f, h5py.File(out_cka) as r:
    xs = [f["activations/image"][l].astype(np.float64) for l in range(L)]
    t0 = clock()
    cb, cu = np.eye(L), np.eye(L)
    for a in range(L):           # the matrix is symmetric: one call per unordered pair
        for b in range(a + 1, L):
            cb[a, b] = cb[b, a] = cka_numpy(xs[a], xs[b], False)
            cu[a, b] = cu[b, a] = cka_numpy(xs[a], xs[b], True)
    t_np = since(t0)
    diff = max(np.max(np.abs(r["bench/cka/image__image"][()] - cb)),
               np.max(np.abs(r["bench/cka_unbiased/image__image"][()] - cu)))
report(("CKA L x L, biased + unbiased", t_cka, ts_cka, "numpy feature-space CKA (Kornblith), one call per layer pair",
        t_np, f"max abs diff {diff:.1e}"))
print()
print("\n".join(notes))

