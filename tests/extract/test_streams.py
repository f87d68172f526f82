"""test_streams.py — pipeline/streams.c against Python and numpy.

Layer selections must equal Python's own slicing of range(n_total) (the documented semantics:
a:b:s with b exclusive, negative values from the end); pooling must equal numpy's reduction of
the same positions (mean in float64 then cast to float32, first, last, all); sample:K must equal
an independent Python implementation of the documented draw (splitmix64 + partial Fisher-Yates,
sorted). Bad specifications must fail with a message that names the bad part.
Run by ctest: test_streams.py STREAMS_TOOL."""
import os
import subprocess
import sys
import tempfile

import numpy as np

tool = sys.argv[1]
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)


def run(*args):
    p = subprocess.run([tool, *map(str, args)], capture_output=True, text=True)
    return p.returncode, p.stdout.strip()


# ---- layers: against Python slicing -------------------------------------------------------
def python_layers(spec, n):
    keep = set()
    for item in spec.split(","):
        if item == "all":
            keep.update(range(n))
        elif ":" in item:
            parts = [int(x) if x else None for x in item.split(":")]
            keep.update(list(range(n))[slice(*parts)])
        else:
            i = int(item)
            keep.add(list(range(n))[i])
    return sorted(keep)


for spec, n in [("all", 5), ("0", 33), ("-1", 33), ("0:33:4", 33), ("0:32:4", 33), ("::8", 33),
                ("1:", 7), (":3", 7), ("-3:", 7), ("2:-2", 9), ("0,4,8", 9), ("8,4,0,4", 9),
                ("0:100", 5), ("-100:2", 5), ("0:33:4,-1", 33), ("5:1", 9) ]:
    rc, out = run("layers", spec, n)
    want = python_layers(spec, n)
    if not want:
        check(rc == 1 and "selects no layer" in out, f"layers {spec} n={n}: {out}")
        continue
    got = [int(x) for x in out.split()] if rc == 0 else out
    check(got == want, f"layers {spec!r} of {n}: got {got}, want {want}")

for spec, n, needle in [("33", 33, "out of range"), ("-34", 33, "out of range"),
                        ("a:b", 9, "cannot read 'a:b'"), ("1:2:0", 9, "step must be positive"),
                        ("1:2:3:4", 9, "cannot read"), ("", 9, "empty"), ("x", 9, "'x'")]:
    rc, out = run("layers", spec, n)
    check(rc == 1 and needle in out, f"layers {spec!r} should fail with {needle!r}: {out}")

# ---- stream lists --------------------------------------------------------------------------
rc, out = run("streams", "image,caption:all,image_last,vision:cls,connector,caption_last", "mean")
check(rc == 0 and out.splitlines() == [
    "image llm mean 0", "caption llm all 1", "image_last llm last 0", "vision vision cls 0",
    "connector connector mean 0", "caption_last llm last 0"], f"streams: {out}")
rc, out = run("streams", "image,caption,image_last", "sample:16")
check(rc == 0 and out.splitlines() == ["image llm sample:16 1", "caption llm sample:16 1",
                                       "image_last llm last 0"], f"streams default pool: {out}")
for lst, pool, needle in [("image,pixels", "mean", "unknown stream 'pixels'"),
                          ("image,image", "mean", "listed twice"),
                          ("image_last:mean", "mean", "does not apply"),
                          ("caption:cls", "mean", "only for the vision stream"),
                          ("image:sample:0", "mean", "positive integer"),
                          ("image:median", "mean", "'median'"),
                          ("image", "avg", "--pool"), (",", "mean", "empty list")]:
    rc, out = run("streams", lst, pool)
    check(rc == 1 and needle in out, f"streams {lst!r} --pool {pool}: want {needle!r}, got {out}")

# ---- sample:K positions: an independent implementation of the documented draw ----------------
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from splitmix import splitmix64  # noqa: E402  (tests/splitmix.py)


def sample_positions(k, n, seed):
    perm, state = list(range(n)), seed
    for i in range(min(k, n)):
        state, r = splitmix64(state)
        j = i + r % (n - i)
        perm[i], perm[j] = perm[j], perm[i]
    return sorted(perm[:min(k, n)])


for k, n, seed in [(4, 10, 0), (4, 10, 1), (10, 4, 7), (1, 1, 3), (16, 577, 123456789),
                   (3, 5, 2**63 + 5)]:
    rc, out = run("sample", k, n, seed)
    got = [int(x) for x in out.split()]
    check(got == sample_positions(k, n, seed), f"sample {k} of {n} seed {seed}: {got}")
# different seeds give different draws (the seed is really used)
draws = {run("sample", 8, 100, s)[1] for s in range(5)}
check(len(draws) == 5, f"sample:K draws do not depend on the seed: {draws}")

# ---- pooling against numpy -------------------------------------------------------------------
rng = np.random.default_rng(5)
with tempfile.TemporaryDirectory(dir=os.environ.get("STRATA_TEST_TMP")) as tmp:
    T, D = 23, 37
    hidden = (rng.standard_normal((T, D)) * 10 + 3).astype(np.float32)
    src = os.path.join(tmp, "in.f32")
    dst = os.path.join(tmp, "out.f32")
    hidden.tofile(src)
    positions = [2, 3, 5, 8, 13, 21]
    cases = {
        "mean": hidden[positions].astype(np.float64).mean(0, keepdims=True).astype(np.float32),
        "first": hidden[positions[:1]],
        "last": hidden[positions[-1:]],
        "cls": hidden[:1],
        "all": hidden[positions],
        "sample:4": hidden[[positions[i] for i in sample_positions(4, len(positions), 99)]],
        "sample:50": hidden[positions],
    }
    for pool, want in cases.items():
        rc, out = run("pool", pool, src, T, D, ",".join(map(str, positions)), 99, dst)
        check(rc == 0 and int(out) == want.shape[0], f"pool {pool}: rows {out}")
        got = np.fromfile(dst, dtype=np.float32).reshape(-1, D)
        # mean: float64 accumulation on both sides; one float32 rounding apart at most
        check(got.shape == want.shape and np.allclose(got, want, rtol=1e-6, atol=1e-6),
              f"pool {pool}: max diff {np.abs(got - want).max() if got.shape == want.shape else got.shape}")
    # the mean of many large values stays accurate (float64 accumulation)
    T2 = 4096
    big = (rng.standard_normal((T2, 8)) + 1e4).astype(np.float32)
    big.tofile(src)
    rc, out = run("pool", "mean", src, T2, 8, ",".join(map(str, range(T2))), 0, dst)
    got = np.fromfile(dst, dtype=np.float32)
    want = big.astype(np.float64).mean(0).astype(np.float32)
    check(np.array_equal(got, want), f"mean of 4096 rows: {got} vs {want}")

print("FAIL" if failures else "PASS", "test_streams", f"({failures} failures)")
sys.exit(1 if failures else 0)
