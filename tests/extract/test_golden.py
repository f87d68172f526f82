"""test_golden.py — end-to-end golden test of `strata extract`: the archive's activations for
the model engine's fixture checkpoints (tests/golden/NAME, completed with the tokenizer and
processor files of tests/extract/golden/NAME) and real image files + captions
(tests/extract/golden/inputs) equal what Hugging Face transformers computes with its processor
and model (output_hidden_states, the same pooling): tests/extract/golden/NAME/expected.h5, made
by make_golden.py (versions recorded in its attributes).

Bound: relative error per layer ||strata - hf||_F / ||hf||_F <= 1e-4 over all rows of the
layer (both compute in float32; the difference is summation order, ~1e-6 here). The runs use
2 ranks and batch 4, so right padding and the rank split are exercised too. Run 1: the six
streams with their default pools (caption as "all"); run 2 (LLaVA): image:all and vision:cls
(or vision:first for SigLIP, which has no class token).
Run by ctest: test_golden.py NAME"""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import extract_common as ec  # noqa: E402
from extract_common import check  # noqa: E402

name = sys.argv[1]
expected_path = os.path.join(ec.GOLDEN, name, "expected.h5")
model = ec.assemble_model(name, os.path.join(ec.TMP, name))
manifest = os.path.join(ec.GOLDEN, "inputs", "manifest.jsonl")

with h5py.File(expected_path, "r") as f:
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
print(f"reference: transformers {attrs['transformers_version']}, torch {attrs['torch_version']}")
if not check(attrs["weights_sha256"] == ec.weights_sha256(model),
             f"tests/golden/{name} changed since expected.h5 was made: rerun "
             "tests/extract/golden/make_golden.py"):
    ec.finish(f"test_golden {name}")


def compare_run(group, label):
    """Extract the streams of expected.h5's `group` (pools from its attrs) and compare."""
    with h5py.File(expected_path, "r") as f:
        g = f[group] if group else f
        expected = {s: (d[()], d.attrs["pool"]) for s, d in g["activations"].items()}
        offsets = {s: g[f"index/{s}/row_offset"][()] for s in expected if f"index/{s}" in g}
    pools = {s: (p.decode() if isinstance(p, bytes) else p) for s, (_, p) in expected.items()}
    streams = ",".join(s if s.endswith("_last") else f"{s}:{pools[s]}" for s in sorted(expected))
    out = os.path.join(ec.TMP, f"{name}_{label}.h5")
    ec.run(2, ["extract", "--model", model, "--data", manifest, "--out", out, "--overwrite",
               "--streams", streams, "--batch", "4", "--template", attrs["template"],
               "--prompt", attrs["prompt"], "--progress", "none"])
    got, ids, status, errors, _ = ec.read_archive(out)
    check(list(status) == [1] * len(ids), f"all samples ok: {list(zip(ids, status, errors))}")
    for s, (want, _) in sorted(expected.items()):
        data, ro, _ = got[s]
        if not check(data.shape == want.shape, f"{s}: shape {data.shape}, expected {want.shape}"):
            continue
        if s in offsets:
            check(np.array_equal(ro, offsets[s]), f"{s} row offsets {ro} vs {offsets[s]}")
        errs = [float(np.linalg.norm(data[l] - want[l]) / np.linalg.norm(want[l]))
                for l in range(want.shape[0])]
        print(f"{name} {s}:{pools[s]}: relative error per layer " +
              " ".join(f"{e:.2e}" for e in errs))
        check(max(errs) <= 1e-4, f"{s}:{pools[s]}: relative error {max(errs):.3g} > 1e-4")
        if max(errs) > 1e-4:  # which samples: helps tell preprocessing from model differences
            for i in range(len(ids)):
                sl = ec.rows_of(ro, i)
                e = np.linalg.norm(data[:, sl] - want[:, sl]) / np.linalg.norm(want[:, sl])
                if e > 1e-4:
                    print(f"  sample {ids[i]}: relative error {e:.3g}")


compare_run(None, "run1")
with h5py.File(expected_path, "r") as f:
    has_run2 = "run2" in f
if has_run2:
    compare_run("run2", "run2")
ec.finish(f"test_golden {name}")
