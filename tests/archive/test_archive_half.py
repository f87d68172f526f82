"""test_archive_half.py — strata's in-memory f32 -> IEEE half conversion (io/half.c, used by the
archive writer) against numpy's astype(float16), the reference DESIGN.md names: every half
value, every exact midpoint between neighbouring halves (ties: round to even), one f32 ulp either
side of each midpoint, the overflow boundary (65504 / 65520 / inf), subnormals, signed zeros,
infinities and NaN, plus 2M random bit patterns; the overflow count equals numpy's count of
finite inputs that became inf. And half -> f32 for all 65536 patterns. Both code paths: the
F16C instructions (where the CPU has them) and the plain C reference (STRATA_NO_F16C=1)."""
import os
import subprocess
import sys

import numpy as np

tool = sys.argv[1]
tmp = os.environ.get("STRATA_TEST_TMP", "/tmp")
failures = 0


def run(mode, arr, plain_c):
    src, dst = os.path.join(tmp, "half_in.bin"), os.path.join(tmp, "half_out.bin")
    arr.tofile(src)
    env = dict(os.environ, STRATA_NO_F16C="1" if plain_c else "0")
    p = subprocess.run([tool, mode, src, dst], capture_output=True, text=True, check=True, env=env)
    return np.fromfile(dst, dtype=np.uint16 if mode == "to16" else np.float32), p.stdout.strip()


all_half = np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)
finite = all_half[np.isfinite(all_half)].astype(np.float32)
finite = np.unique(finite)  # sorted, -0 and +0 merged
mid = ((finite[:-1].astype(np.float64) + finite[1:].astype(np.float64)) / 2).astype(np.float32)
assert np.all((mid.astype(np.float64) * 2) == finite[:-1].astype(np.float64) + finite[1:])  # exact
top = np.float32(65504) + np.float32(16)  # midpoint to the next (absent) half: ties go to inf
edges = np.array([0.0, -0.0, 65504, 65519.996, 65520, 65536, 1e38, np.inf, -np.inf, np.nan,
                  2**-24, 2**-25, 2**-25 * 1.0000001, 3 * 2**-26, 2**-14, 2**-14 * (1 - 2**-11),
                  top, -top], dtype=np.float32)
rng = np.random.default_rng(7)
inputs = np.concatenate([finite, mid, np.nextafter(mid, np.float32(np.inf)),
                         np.nextafter(mid, np.float32(-np.inf)), -mid, edges,
                         rng.integers(0, 2**32, 2_000_000, dtype=np.uint64).astype(np.uint32).view(np.float32)])
with np.errstate(over="ignore", invalid="ignore"):
    want = inputs.astype(np.float16).view(np.uint16)
    want_overflow = int(np.sum(np.isfinite(inputs) & np.isinf(inputs.astype(np.float16))))
nan_in = np.isnan(inputs)
want32 = all_half.astype(np.float32)
for plain_c in (False, True):
    path = "plain C" if plain_c else "default (F16C where available)"
    got, overflow = run("to16", inputs, plain_c)
    same = (got == want) | (nan_in & ((got & 0x7C00) == 0x7C00) & ((got & 0x3FF) != 0))
    if not np.all(same):
        failures += 1
        bad = np.flatnonzero(~same)
        print(f"FAIL ({path}): {len(bad)} of {len(inputs)} conversions differ from numpy; first:")
        for i in bad[:5]:
            print(f"  {inputs[i]!r} (0x{inputs[i:i+1].view(np.uint32)[0]:08x}): strata "
                  f"0x{got[i]:04x} numpy 0x{want[i]:04x}")
    if int(overflow) != want_overflow:
        failures += 1
        print(f"FAIL ({path}): overflow count {overflow}, numpy says {want_overflow}")
    back, _ = run("to32", np.arange(65536, dtype=np.uint32).astype(np.uint16), plain_c)
    ok = (back.view(np.uint32) == want32.view(np.uint32)) | (np.isnan(back) & np.isnan(want32))
    if not np.all(ok):
        failures += 1
        print(f"FAIL ({path}): {np.sum(~ok)} half -> f32 conversions differ from numpy")

print("test_archive_half:", "FAIL" if failures else "PASS", f"({failures} failures,"
      f" {len(inputs)} values)")
sys.exit(1 if failures else 0)
