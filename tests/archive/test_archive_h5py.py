"""test_archive_h5py.py — archives written by `strata mkarchive` at 1, 2 and 3 ranks, read with
h5py (Debian's) at the documented paths: the three are equal element for element; the f32
values equal numpy's recomputation of the documented formula; f16 archives equal numpy's
astype(float16) of those values (round to nearest even, overflow to inf) with the overflow
count attribute equal to numpy's count of finite values that became inf; ids, statuses,
errors, row offsets, layers and provenance attributes are as documented."""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import synth  # noqa: E402

N, L, D, SEED, FAIL = 37, 3, 9, 11, 8
STREAMS = ["image", "caption"]
check = synth.check


def make(np_, dtype, ragged, rounds):
    path = os.path.join(synth.tmpdir(), f"h5py_np{np_}_{dtype}_{int(ragged)}.h5")
    args = ["mkarchive", "--out", path, "--samples", N, "--layers", L, "--hidden", D,
            "--streams", ",".join(STREAMS), "--dtype", dtype, "--seed", SEED,
            "--fail-every", FAIL, "--rounds", rounds, "--overwrite"]
    synth.mpirun(np_, *args + (["--ragged"] if ragged else []))
    return path


for dtype in ["f32", "f16"]:
    for ragged in [False, True]:
        paths = {np_: make(np_, dtype, ragged, rounds) for np_, rounds in [(1, 3), (2, 4), (3, 2)]}
        tag = f"{dtype} ragged={ragged}"
        files = {np_: h5py.File(p, "r") for np_, p in paths.items()}
        f = files[1]
        check(f.attrs["format"] == "strata-activations", f"{tag}: format {f.attrs['format']!r}")
        check(f.attrs["format_version"] == 1 and f.attrs["complete"] == 1, f"{tag}: version/complete")
        check([files[k].attrs["n_ranks"] for k in (1, 2, 3)] == [1, 2, 3], f"{tag}: n_ranks")
        check(f["dataset"].attrs["n_samples"] == N, f"{tag}: n_samples")
        ids = f["samples/id"].asstr()[:]
        check(list(ids) == [f"sample-{i:06d}" for i in range(N)], f"{tag}: ids {ids[:3]}")
        bad = synth.failed(N, FAIL)
        check(np.array_equal(f["samples/status"][:], np.where(bad, 2, 1)), f"{tag}: status")
        errors = f["samples/error"].asstr()[:]
        want_err = [f"synthetic failure of sample {i}" if bad[i] else "" for i in range(N)]
        check(list(errors) == want_err, f"{tag}: errors {errors[:8]}")
        check(np.all(f["progress/round_done"][:] == 1), f"{tag}: round_done")
        for t, name in enumerate(STREAMS):
            d = f[f"activations/{name}"]
            want32 = synth.expected_stream(SEED, t, N, L, D, ragged, FAIL)
            check(d.shape == want32.shape, f"{tag} {name}: shape {d.shape} vs {want32.shape}")
            check(list(d.attrs["layers"]) == list(range(L + 1)), f"{tag} {name}: layers attr")
            check(d.attrs["hidden_size"] == D, f"{tag} {name}: hidden_size attr")
            check(d.attrs["pool"] == ("all" if ragged else "mean"), f"{tag} {name}: pool")
            check(d.chunks is not None and d.chunks[0] == 1 and d.chunks[2] == D,
                  f"{tag} {name}: chunks {d.chunks}")
            got = d[:]
            if dtype == "f16":
                check(d.dtype == np.float16, f"{tag} {name}: dtype {d.dtype}")
                with np.errstate(over="ignore"):
                    want = want32.astype(np.float16)
                overflow = int(np.sum(np.isinf(want) & np.isfinite(want32)))
                check(overflow > 0, f"{tag} {name}: the content should overflow half somewhere")
                check(np.sum((want != 0) & (np.abs(want) < 2**-14)) > 0,
                      f"{tag} {name}: the content should hit half subnormals")
                check(d.attrs["overflow_count"] == overflow,
                      f"{tag} {name}: overflow_count {d.attrs['overflow_count']} != numpy {overflow}")
            else:
                check(d.dtype == np.float32, f"{tag} {name}: dtype {d.dtype}")
                want = want32
            # bit-equal (array_equal treats inf == inf; no NaN in the content)
            same = np.array_equal(got.view(np.uint16 if dtype == "f16" else np.uint32),
                                  want.view(np.uint16 if dtype == "f16" else np.uint32))
            if not same:
                where = np.argwhere(got.view(np.uint16 if dtype == "f16" else np.uint32)
                                    != want.view(np.uint16 if dtype == "f16" else np.uint32))
                print(f"  {tag} {name}: {len(where)} differ, first {where[:3].tolist()}: "
                      f"got {[got[tuple(w)] for w in where[:3]]} want {[want[tuple(w)] for w in where[:3]]}")
            check(same, f"{tag} {name}: values differ from numpy")
            if ragged:
                ro = f[f"index/{name}/row_offset"][:]
                want_ro = np.concatenate([[0], np.cumsum(synth.tokens_per_sample(SEED, N))])
                check(np.array_equal(ro, want_ro), f"{tag} {name}: row_offset")
            for np_ in (2, 3):
                other = files[np_][f"activations/{name}"][:]
                check(np.array_equal(other.view(np.uint8), got.view(np.uint8)),
                      f"{tag} {name}: np {np_} differs from np 1")
        for np_ in (2, 3):
            for ds in ["samples/id", "samples/status", "samples/error"]:
                check(np.array_equal(files[np_][ds][:], f[ds][:]), f"{tag}: {ds} np {np_} vs 1")
        for h in files.values():
            h.close()

# an empty manifest gives a valid, complete, empty archive (2 ranks, both with nothing to write)
empty = os.path.join(synth.tmpdir(), "empty.h5")
synth.mpirun(2, "mkarchive", "--out", empty, "--samples", 0, "--layers", 2, "--hidden", 4,
             "--ragged", "--overwrite")
with h5py.File(empty, "r") as f:
    check(f.attrs["complete"] == 1 and f["activations/image"].shape == (3, 0, 4)
          and f["samples/id"].shape == (0,) and list(f["index/image/row_offset"][:]) == [0],
          f"empty archive: {f['activations/image'].shape}")

sys.exit(synth.finish("test_archive_h5py"))
