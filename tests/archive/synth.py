"""synth.py — numpy recomputation of `strata mkarchive`'s documented content (see
`strata mkarchive --help`, io/synthetic.c), and helpers for the archive tests: running
strata (under mpirun), counting failures. Independent of the C code: only the formula text is shared."""
import os
import subprocess

import numpy as np

MASK = np.uint64(0xFFFFFFFF)


def _mul(a, b):
    return (a * np.uint64(b)) & MASK


def values(seed, stream, samples, tokens, layer, hidden):
    """float32 [len(samples), hidden]: row r is sample samples[r], token tokens[r]."""
    i = np.asarray(samples, dtype=np.uint64)[:, None]
    j = np.asarray(tokens, dtype=np.uint64)[:, None]
    c = np.arange(hidden, dtype=np.uint64)[None, :]
    k = (_mul(i, 0x9E3779B1) + _mul(j, 0x27D4EB2F) + _mul(np.uint64(layer), 0x85EBCA77)
         + _mul(c, 0xC2B2AE3D) + _mul(np.uint64(stream), 0x165667B1)
         + _mul(np.uint64(seed), 0xD3A2646C) + np.uint64(1)) & MASK
    k ^= k >> np.uint64(15)
    k = _mul(k, 0x2C1B3C6D)
    k ^= k >> np.uint64(12)
    k = _mul(k, 0x297A2D39)
    k ^= k >> np.uint64(15)
    m = (k >> np.uint64(8)).astype(np.int64) - 8388608
    exponent = np.full(m.shape, -19, dtype=np.int64)
    exponent[:, 1:2] = -37
    special = (np.asarray(samples)[:, None] % 5 == 4) & (np.arange(hidden)[None, :] == 0)
    exponent[special] = -4
    return np.ldexp(m.astype(np.float64), exponent).astype(np.float32)  # exact: |m| < 2^24


def tokens_per_sample(seed, n):
    return 1 + (np.arange(n) + seed) % 4


def failed(n, fail_every):
    i = np.arange(n)
    return (i % fail_every == fail_every - 1) if fail_every > 0 else np.zeros(n, bool)


def expected_stream(seed, stream, n, n_layers, hidden, ragged, fail_every):
    """float32 [n_layers + 1, R, hidden] as the archive must hold it (failed rows zero)."""
    if ragged:
        counts = tokens_per_sample(seed, n)
        samples = np.repeat(np.arange(n), counts)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        tokens = np.arange(len(samples)) - offsets[samples]
    else:
        samples, tokens = np.arange(n), np.zeros(n, dtype=np.int64)
    bad = failed(n, fail_every)[samples]
    out = np.stack([values(seed, stream, samples, tokens, l, hidden)
                    for l in range(n_layers + 1)])
    out[:, bad, :] = 0
    return out


def mpirun(np_, *args, check=True):
    """Run `strata ARGS` under mpirun -np np_; returns the CompletedProcess."""
    cmd = [os.environ.get("STRATA_MPIEXEC", "mpirun"), "--allow-run-as-root", "--oversubscribe",
           "-np", str(np_), os.environ["STRATA_BIN"], *map(str, args)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise SystemExit(f"FAIL: {' '.join(cmd)} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def strata(*args):
    """Run `strata ARGS` on one process (no mpirun); returns the CompletedProcess."""
    return subprocess.run([os.environ["STRATA_BIN"], *map(str, args)], capture_output=True,
                          text=True)


def tmpdir():
    d = os.environ.get("STRATA_TEST_TMP", "/tmp")
    os.makedirs(d, exist_ok=True)
    return d


failures = 0


def check(cond, msg):
    """Count a failure (and say what) unless cond holds; the verdict comes from finish()."""
    global failures
    if not cond:
        failures += 1
        print("FAIL:", msg)


def finish(name):
    """Print the verdict; returns the exit code."""
    print(f"{name}:", "FAIL" if failures else "PASS", f"({failures} failures)")
    return 1 if failures else 0
