"""`strata analyze` end to end on archives written here with h5py in the format-v1 layout
(DESIGN.md, the collaborators' contract): exclusions (status != ok, NaN/Inf rows) counted and
applied, metrics on the kept rows equal to dadapy / numpy, np 1 and 2 agree, --samples, bytes
sent reported by --verbose ((P-1) x the data in total over ranks for the ring; log2 P TSQR
messages), and refusals: different manifests for cross metrics (both hashes named), an
incomplete archive without --allow-partial, k >= rows, an unknown metric."""
import json
import os
import re
import subprocess
import sys
import warnings

import h5py
import numpy as np

warnings.filterwarnings("ignore")
import dadapy  # noqa: E402

STRATA = os.environ["STRATA_BIN"]
TMP = os.environ.get("STRATA_TEST_TMP", "/tmp")
MPIEXEC = os.environ.get("STRATA_MPIEXEC", "mpirun")
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg)


def run(np_, *args, env=None):
    cmd = [MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", str(np_), STRATA, "analyze", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


rng = np.random.default_rng(7)
N = 240


def write_archive(path, model, manifest_sha, streams, status, complete=1):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "strata-activations"
        f.attrs["format_version"] = 1
        f.attrs["complete"] = complete
        f.attrs["n_ranks"] = 1
        f.require_group("model").attrs["name"] = model
        d = f.require_group("dataset")
        d.attrs["manifest_sha256"] = manifest_sha
        d.attrs["manifest_path"] = "manifest.jsonl"
        d.attrs["n_samples"] = N
        f["samples/id"] = np.array([f"s{i:04d}" for i in range(N)], dtype=object).astype(h5py.string_dtype())
        f["samples/status"] = status.astype(np.int8)
        f["samples/error"] = np.array(["" if s == 1 else "bad jpeg" for s in status],
                                      dtype=object).astype(h5py.string_dtype())
        for name, x in streams.items():
            f[f"activations/{name}"] = x
            a = f[f"activations/{name}"].attrs
            a["layers"] = np.arange(x.shape[0], dtype=np.int64)
            a["hidden_size"] = x.shape[2]
            a["pool"] = "mean"
            a["site"] = "llm"


def curved(d, D, L):
    z = rng.uniform(-1, 1, size=(N, d))
    out = []
    for _ in range(L):
        w = rng.normal(size=(d, D))
        out.append(np.sin(z @ w + rng.uniform(0, 6, size=D)) + 1e-3 * rng.normal(size=(N, D)))
    return np.array(out, dtype=np.float32)


status = np.ones(N, dtype=np.int8)
status[[3, 50, 51, 200]] = 2
img = curved(3, 20, 3)
cap = (img + 0.2 * rng.normal(size=img.shape)).astype(np.float32)
img[:, [3, 50, 51, 200]] = 0           # failed samples keep zeros
cap[1, 17, 4] = np.nan                  # a non-finite row in an ok sample: excluded everywhere
cap[2, 90, 0] = np.inf
imgb = curved(3, 12, 2)

A = os.path.join(TMP, "a.h5")
B = os.path.join(TMP, "b.h5")
C = os.path.join(TMP, "c.h5")
P = os.path.join(TMP, "partial.h5")
write_archive(A, "org/model-a", "ab" * 32, {"image": img, "caption": cap}, status)
write_archive(B, "org/model-b", "ab" * 32, {"image": imgb}, np.ones(N, np.int8))
write_archive(C, "org/model-c", "cd" * 32, {"image": imgb}, np.ones(N, np.int8))
write_archive(P, "org/model-p", "ab" * 32, {"image": imgb}, np.ones(N, np.int8), complete=0)
# A's model config as LLaVA-1.5 writes it: text_config without num_hidden_layers (transformers'
# LlamaConfig default, 32), vision_config with 7; B has no config (no num_layers written)
with h5py.File(A, "a") as f:
    f["model"].attrs["config_json"] = json.dumps({
        "architectures": ["LlavaForConditionalGeneration"], "image_token_index": 32000,
        "text_config": {"model_type": "llama", "vocab_size": 32064},
        "vision_config": {"model_type": "clip_vision_model", "num_hidden_layers": 7}})
    f["activations/image"].attrs["site"] = "llm"

kept = np.ones(N, bool)
kept[[3, 50, 51, 200, 17, 90]] = False

outs = {}
for n in (1, 2):
    out = os.path.join(TMP, f"cli_np{n}.h5")
    p = run(n, A, B, "--out", out, "--k", 40, "--verbose")
    check(p.returncode == 0, f"analyze at np {n}: exit {p.returncode}\n{p.stderr[-2000:]}")
    outs[n] = (out, p.stderr)

R = h5py.File(outs[1][0], "r")
check(R.attrs["format"] == "strata-results" and R.attrs["format_version"] == 1, "results format attrs")
check("a.h5" in R.attrs["inputs"] and "b.h5" in R.attrs["inputs"], "inputs attr names the archives")
g = R["org_model-a"]
check(g.attrs["model_name"] == "org/model-a", "model_name attr keeps the original name")
check(g.attrs["n_used"] == kept.sum(), f"n_used {g.attrs['n_used']} != {kept.sum()}")
check(g.attrs["n_excluded_status"] == 4, f"n_excluded_status {g.attrs['n_excluded_status']}")
check(g.attrs["n_excluded_nonfinite"] == 2, f"n_excluded_nonfinite {g.attrs['n_excluded_nonfinite']}")
check(list(R["org_model-a/image"].attrs["layers"]) == [0, 1, 2], "layers attr")
check(R["org_model-a/image"].attrs.get("num_layers") == 32 and R["org_model-a/caption"].attrs.get("num_layers") == 32,
      f"num_layers from the config's defaults: {R['org_model-a/image'].attrs.get('num_layers')}")
check("num_layers" not in R["org_model-b/image"].attrs, "no num_layers without a config")

# metrics on the kept rows equal the references
for l in range(3):
    x = img[l][kept].astype(np.float64)
    want = dadapy.Data(x, verbose=False).compute_id_2NN()[0]
    got = R["org_model-a/image/id/twonn"][l]
    check(abs(got - want) <= 1e-6 * abs(want), f"twonn layer {l}: {got} vs dadapy {want}")
    s = np.linalg.svd(x - x.mean(0), compute_uv=False)
    check(np.max(np.abs(R["org_model-a/image/spectrum"][l] - s)) <= 1e-9 * s[0], f"spectrum layer {l}")


def cka(x, y):
    x = x - x.mean(0)
    y = y - y.mean(0)
    return np.sum((x.T @ y) ** 2) / np.sqrt(np.sum((x.T @ x) ** 2) * np.sum((y.T @ y) ** 2))


want = np.array([[cka(img[a][kept].astype(np.float64), imgb[b][kept].astype(np.float64))
                  for b in range(2)] for a in range(3)])
got = R["cross/org_model-a__org_model-b/cka/image"][()]
check(np.max(np.abs(got - want)) <= 1e-9, f"cross CKA vs numpy: {got} vs {want}")
ov = dadapy.Data(img[1][kept].astype(np.float64), verbose=False).return_data_overlap(
    coordinates=cap[1][kept].astype(np.float64), k=30)
check(abs(R["org_model-a/overlap/image__caption"][1] - ov) <= 1e-12, "overlap image/caption vs dadapy")

# np 2 equals np 1
R2 = h5py.File(outs[2][0], "r")
names = []
R.visititems(lambda k, v: names.append(k) if isinstance(v, h5py.Dataset) else None)
for k in names:
    a, b = R[k][()], R2[k][()]
    scale = np.max(np.abs(a)) if "spectrum" in k else np.maximum(np.abs(a), 1e-12)
    if "/cka" in k:
        scale = 1.0
    ok = np.all((np.abs(a - b) <= 1e-9 * scale) | (np.isnan(a) & np.isnan(b)))
    check(ok, f"np 2 vs np 1: {k}")

# --threads: 3 threads per rank give the np 1 results; by default (no OMP_NUM_THREADS) a rank
# takes the node's cores shared among its ranks
t3 = os.path.join(TMP, "cli_threads3.h5")
p = run(1, A, B, "--out", t3, "--k", 40, "--threads", 3)
check(p.returncode == 0 and "1 ranks x 3 threads" in p.stderr, f"--threads 3: {p.stderr[-600:]}")
if p.returncode == 0:
    R3 = h5py.File(t3, "r")
    for k in names:
        a, b = R[k][()], R3[k][()]
        scale = np.max(np.abs(a)) if "spectrum" in k else np.maximum(np.abs(a), 1e-12)
        ok = np.all((np.abs(a - b) <= 1e-9 * (1.0 if "/cka" in k else scale)) | (np.isnan(a) & np.isnan(b)))
        check(ok, f"--threads 3 vs 1 thread: {k}")
# (the rank's cores: unbound ranks share the node's, a rank bound to one core gets 1 thread)
env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
cores = len(os.sched_getaffinity(0))
for bind, want in (("none", max(1, cores // 2)), ("core", 1)):
    cmd = [MPIEXEC, "--allow-run-as-root", "--oversubscribe", "--bind-to", bind, "-np", "2", STRATA,
           "analyze", A, "--out", os.path.join(TMP, "cli_threads_default.h5"), "--metrics", "spectrum"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    check(p.returncode == 0 and f"2 ranks x {want} threads" in p.stderr,
          f"default threads, --bind-to {bind}: want {want}: {p.stderr[-600:]}")
p = run(1, A, "--out", os.path.join(TMP, "t0.h5"), "--threads", 0)
check(p.returncode == 2 and "--threads expects an integer >= 1" in p.stderr, f"--threads 0: {p.stderr[-300:]}")

# bytes sent, from --verbose: the ring sends every block P-1 times in total; TSQR log2 P per matrix
err = outs[2][1]
ring = [int(m) for m in re.findall(r"ring: (\d+) bytes", err)]
data = [int(m) for m in re.findall(r"\(data (\d+) bytes", err)]
tsqr_msgs = [int(m) for m in re.findall(r"tsqr: \d+ bytes in (\d+) messages", err)]
check(len(ring) == 2, f"--verbose lines per rank and unit: {len(ring)}\n{err}")
if len(ring) == 2:
    # order of log lines between ranks is arbitrary; the unit is one (cross): totals per rank
    check(sum(ring) == sum(data) // 2, f"ring bytes over ranks {sum(ring)} != (P-1) x data {sum(data) // 2}")
    check(all(m == 8 for m in tsqr_msgs), f"TSQR messages per rank {tsqr_msgs} != 8 matrices x log2(2)")

# --samples: a seeded subset, the same at any number of ranks
s1, s2 = os.path.join(TMP, "sub1.h5"), os.path.join(TMP, "sub2.h5")
p1 = run(1, A, "--out", s1, "--samples", 100, "--seed", 3, "--metrics", "spectrum,id", "--k", 20)
p2 = run(2, A, "--out", s2, "--samples", 100, "--seed", 3, "--metrics", "spectrum,id", "--k", 20)
check(p1.returncode == 0 and p2.returncode == 0, f"--samples runs: {p1.stderr[-500:]} {p2.stderr[-500:]}")
if p1.returncode == 0 and p2.returncode == 0:
    with h5py.File(s1) as f1, h5py.File(s2) as f2:
        check(f1["org_model-a"].attrs["n_used"] == 100, "n_used with --samples 100")
        check(np.allclose(f1["org_model-a/image/id/twonn"][()], f2["org_model-a/image/id/twonn"][()],
                          rtol=1e-9), "--samples subset independent of ranks")

# a random archive written by `strata mkarchive` (float16 on disk: column 0 of every 5th sample
# overflows to inf, so those samples are excluded as non-finite), analysed at np 3
MK = os.path.join(TMP, "mk.h5")
if os.path.exists(MK):
    os.remove(MK)
p = subprocess.run([MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", "2", STRATA, "mkarchive", "--out", MK,
                    "--samples", "160", "--layers", "2", "--hidden", "16", "--streams", "image,caption",
                    "--dtype", "f16", "--fail-every", "7", "--seed", "5"], capture_output=True, text=True)
check(p.returncode == 0, f"mkarchive: {p.stderr[-800:]}")
MKR = os.path.join(TMP, "mk_results.h5")
p = run(3, MK, "--out", MKR, "--k", 20, "--overlap-k", 10, "--gride-range", 16, "--gride-n1", 4,
        "--metrics", "id,cka,overlap,spectrum")
check(p.returncode == 0, f"analyze of a mkarchive archive at np 3: {p.stderr[-1500:]}")
if p.returncode == 0:
    with h5py.File(MK) as f, h5py.File(MKR) as r:
        st = f["samples/status"][()]
        xi = f["activations/image"][()].astype(np.float64)
        xc = f["activations/caption"][()].astype(np.float64)
        ok = (st == 1) & np.all(np.isfinite(xi), axis=(0, 2)) & np.all(np.isfinite(xc), axis=(0, 2))
        name = [k for k in r.keys() if k != "cross"][0]
        g = r[name]
        check(g.attrs["n_excluded_status"] == np.sum(st != 1), "mkarchive: failed samples counted")
        check(g.attrs["n_excluded_nonfinite"] == np.sum((st == 1) & ~ok) and np.sum((st == 1) & ~ok) > 0,
              f"mkarchive: inf rows counted ({g.attrs['n_excluded_nonfinite']})")
        for l in range(xi.shape[0]):
            x = xi[l][ok]
            want = dadapy.Data(x, verbose=False).compute_id_2NN()[0]
            got = g["image/id/twonn"][l]
            check(abs(got - want) <= 1e-6 * want, f"mkarchive twonn layer {l}: {got} vs {want}")
            ids, _, _ = dadapy.Data(x, verbose=False).return_id_scaling_gride(range_max=16)
            check(np.allclose(g["image/id/gride_scaling"][l], ids, rtol=1e-6, atol=0), f"mkarchive gride layer {l}")
            ov = dadapy.Data(x, verbose=False).return_data_overlap(coordinates=xc[l][ok], k=10)
            check(abs(g["overlap/image__caption"][l] - ov) <= 1e-12, f"mkarchive overlap layer {l}")
        want = np.array([[cka(xi[a][ok], xc[b][ok]) for b in range(3)] for a in range(3)])
        check(np.max(np.abs(g["cka/image__caption"][()] - want)) <= 1e-9, "mkarchive CKA vs numpy")

# refusals
p = run(2, A, C, "--out", os.path.join(TMP, "x.h5"))
check(p.returncode != 0 and "ab" * 32 in p.stderr and "cd" * 32 in p.stderr,
      f"different manifests refused with both hashes: {p.stderr[-800:]}")
p = run(1, A, C, "--out", os.path.join(TMP, "sep.h5"), "--metrics", "spectrum,cka")
check(p.returncode == 0, f"different manifests analysed separately without cross: {p.stderr[-800:]}")
p = run(1, P, "--out", os.path.join(TMP, "p.h5"))
check(p.returncode != 0 and "incomplete" in p.stderr and "--allow-partial" in p.stderr and "partial.h5" in p.stderr,
      f"incomplete archive refused: {p.stderr[-800:]}")
p = run(1, P, "--out", os.path.join(TMP, "p.h5"), "--allow-partial", "--metrics", "spectrum")
check(p.returncode == 0, f"--allow-partial accepted: {p.stderr[-800:]}")
p = run(2, A, "--out", os.path.join(TMP, "k.h5"), "--k", 1000)
check(p.returncode != 0 and "k = 1000" in p.stderr and "distinct rows" in p.stderr,
      f"k >= N refused: {p.stderr[-800:]}")
check(not os.path.exists(os.path.join(TMP, "k.h5")) and not os.path.exists(os.path.join(TMP, "k.h5.partial")),
      "no results file left after a refusal")
p = run(1, A, "--out", os.path.join(TMP, "m.h5"), "--metrics", "cka,bogus")
check(p.returncode == 2 and "bogus" in p.stderr, f"unknown metric: {p.returncode} {p.stderr[-300:]}")
p = run(1, A, "--out", os.path.join(TMP, "s.h5"), "--streams", "image,audio")
check(p.returncode != 0 and "audio" in p.stderr and "caption, image" in p.stderr, f"unknown stream: {p.stderr[-300:]}")
p = subprocess.run([STRATA, "analyze", "--help"], capture_output=True, text=True)
check(p.returncode == 0 and "--metrics" in p.stdout, "analyze --help")

print("FAIL" if failures else "PASS", f"({len(failures)} failures)")
sys.exit(1 if failures else 0)
