"""test_archive_crash.py — a writer killed with SIGKILL right after round k of n is flushed
(`strata mkarchive --stop-after-round k`, which SIGKILLs every rank), then rerun: the .partial
has complete=0, rounds 0..k marked done and the samples of the later rounds pending; the rerun
resumes (also on a different number of ranks), finishes, renames to the final name, and the
final arrays, statuses and errors equal an uninterrupted run's, bit for bit (read with h5py)."""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import synth  # noqa: E402

check = synth.check


def args(path, extra):
    return ["mkarchive", "--out", path, "--samples", 41, "--layers", 2, "--hidden", 6,
            "--streams", "image,caption", "--rounds", 5, "--fail-every", 9, "--seed", 3, *extra]


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
    return out


tmp = synth.tmpdir()
for extra, np_write, np_resume, k in [([], 2, 2, 1), (["--dtype", "f16", "--ragged"], 2, 3, 2),
                                      ([], 3, 1, 0)]:
    tag = f"{' '.join(extra) or 'f32'} kill at np {np_write} after round {k}, resume at np {np_resume}"
    ref = os.path.join(tmp, "crash_ref.h5")
    synth.mpirun(np_write, *args(ref, extra + ["--overwrite"]))
    out = os.path.join(tmp, "crash.h5")
    partial = out + ".partial"
    for p in (out, partial):
        if os.path.exists(p):
            os.remove(p)
    p = synth.mpirun(np_write, *args(out, extra + ["--stop-after-round", k]), check=False)
    check(p.returncode != 0, f"{tag}: the killed run exited {p.returncode}")
    check(os.path.exists(partial) and not os.path.exists(out), f"{tag}: .partial left, no final")
    with h5py.File(partial, "r") as f:
        check(f.attrs["complete"] == 0, f"{tag}: complete is {f.attrs['complete']} in the .partial")
        done = f["progress/round_done"][:]
        check(list(done) == [1] * (k + 1) + [0] * (4 - k), f"{tag}: round_done {done}")
        status = f["samples/status"][:]
        check(np.sum(status == 0) > 0 and np.sum(status != 0) > 0, f"{tag}: statuses {status}")
    ins = synth.strata("inspect", partial)
    check(ins.returncode == 0 and "INCOMPLETE" in ins.stdout, f"{tag}: inspect of the .partial: "
          f"{ins.stdout}{ins.stderr}")
    p = synth.mpirun(np_resume, *args(out, extra))
    check("resuming" in p.stderr, f"{tag}: the rerun did not say it resumes: {p.stderr}")
    check(os.path.exists(out) and not os.path.exists(partial), f"{tag}: renamed after finishing")
    a, b = datasets(ref), datasets(out)
    check(sorted(a) == sorted(b), f"{tag}: dataset lists differ {sorted(a)} {sorted(b)}")
    for name in a:
        if name in b:
            same = a[name].shape == b[name].shape and a[name].tobytes() == b[name].tobytes()
            check(same, f"{tag}: {name} differs from the uninterrupted run")
    with h5py.File(out, "r") as f:
        check(f.attrs["complete"] == 1, f"{tag}: complete after resume")
        check(np.all(f["progress/round_done"][:] == 1), f"{tag}: every round done")
        with h5py.File(ref, "r") as g:
            for s in ("image", "caption"):
                check(f[f"activations/{s}"].attrs["overflow_count"]
                      == g[f"activations/{s}"].attrs["overflow_count"], f"{tag}: overflow_count {s}")

sys.exit(synth.finish("test_archive_crash"))
