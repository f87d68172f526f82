"""test_archive_errors.py — damaged, foreign and collaborator-made files through the archive
reader (`strata inspect` uses the same strata_archive_open as analysis): each refusal exits 1
with a message that names the file and the problem; archives whose strings h5py rewrote as
variable-length, or that h5py assembled from scratch, still open; results files get the generic
listing; mkarchive refuses to replace a complete archive without --overwrite."""
import os
import shutil
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import synth  # noqa: E402

check = synth.check
tmp = synth.tmpdir()


def expect_refused(path, *needles):
    p = synth.strata("inspect", path)
    msg = p.stderr
    check(p.returncode == 1, f"{path}: inspect exited {p.returncode} (1 expected): {p.stdout}{msg}")
    check(path in msg, f"{path}: the message does not name the file: {msg!r}")
    for n in needles:
        check(n in msg, f"{path}: the message lacks {n!r}: {msg!r}")


def expect_opens(path, *needles):
    p = synth.strata("inspect", path)
    check(p.returncode == 0, f"{path}: inspect failed: {p.stderr}")
    for n in needles:
        check(n in p.stdout, f"{path}: inspect output lacks {n!r}: {p.stdout}")


good = os.path.join(tmp, "good.h5")
synth.mpirun(2, "mkarchive", "--out", good, "--samples", 30, "--layers", 2, "--hidden", 16,
             "--streams", "image,caption", "--fail-every", 7, "--overwrite")
expect_opens(good, "complete", "samples:   30 (ok 26, failed 4, pending 0)",
             "sample-000006: synthetic failure of sample 6", "[3, 30, 16] float32")


def variant(name):
    path = os.path.join(tmp, name)
    shutil.copyfile(good, path)
    return path


# not HDF5 at all
text = os.path.join(tmp, "notes.h5")
with open(text, "w") as f:
    f.write("these are not activations\n" * 10)
expect_refused(text, "not an HDF5 file")
expect_refused(os.path.join(tmp, "absent.h5"), "No such file")

# truncated: a copy cut in the middle
size = os.path.getsize(good)
cut = variant("truncated.h5")
with open(cut, "r+b") as f:
    f.truncate(size // 2)
expect_refused(cut, "truncated")

# corrupted: the superblock after its signature overwritten (v2 superblocks are checksummed)
bad_sb = variant("bad_superblock.h5")
with open(bad_sb, "r+b") as f:
    f.seek(9)
    f.write(b"\x5a" * 30)
expect_refused(bad_sb, "corrupted")

# corrupted: object headers overwritten (checksummed too) -> some open fails, naming the file
bad_oh = variant("bad_header.h5")
data = bytearray(open(bad_oh, "rb").read())
hits = [i for i in range(len(data)) if data[i:i + 4] == b"OHDR"]
check(len(hits) > 3, f"expected object headers in {good}")
for i in hits[1:]:
    data[i + 8:i + 24] = b"\xa5" * 16
open(bad_oh, "wb").write(data)
expect_refused(bad_oh, "corrupted")

# wrong format string, newer version, a results file given to the archive reader path
wrong = variant("wrong_format.h5")
with h5py.File(wrong, "r+") as f:
    f.attrs["format"] = "something-else"
expect_refused(wrong, 'format is "something-else"', "strata-activations")
newer = variant("newer.h5")
with h5py.File(newer, "r+") as f:
    f.attrs["format_version"] = 2
expect_refused(newer, "format_version 2 is newer")
noformat = variant("no_format.h5")
with h5py.File(noformat, "r+") as f:
    del f.attrs["format"]
expect_refused(noformat, "not a strata archive")

# missing datasets, shape mismatches
missing = variant("missing.h5")
with h5py.File(missing, "r+") as f:
    del f["samples/status"]
expect_refused(missing, "missing dataset /samples/status")
short = variant("short_status.h5")
with h5py.File(short, "r+") as f:
    del f["samples/status"]
    f["samples/status"] = np.ones(29, dtype=np.int8)
expect_refused(short, "/samples/status has shape [29], expected [30]")
rows = variant("bad_rows.h5")
with h5py.File(rows, "r+") as f:
    del f["activations/caption"]
    f["activations/caption"] = np.zeros((3, 31, 16), dtype=np.float32)
expect_refused(rows, "/activations/caption has 31 rows, expected 30")
layers = variant("bad_layers.h5")
with h5py.File(layers, "r+") as f:
    f["activations/image"].attrs["layers"] = np.array([0, 1], dtype=np.int64)
expect_refused(layers, "lists 2")
ragged = variant("bad_offsets.h5")
with h5py.File(ragged, "r+") as f:
    f.require_group("index/image")["row_offset"] = np.arange(31, dtype=np.int64)[::-1].copy()
expect_refused(ragged, "row_offset")

# strings rewritten as variable length (h5py's default) still open, same content
vlen = variant("vlen_strings.h5")
with h5py.File(vlen, "r+") as f:
    for name in ("id", "error"):
        values = f[f"samples/{name}"].asstr()[:]
        del f[f"samples/{name}"]
        f.create_dataset(f"samples/{name}", data=values.astype(object),
                         dtype=h5py.string_dtype())
expect_opens(vlen, "sample-000013: synthetic failure of sample 13", "failed 4")

# an archive assembled by a collaborator with h5py alone (no strata attributes beyond the format)
collab = os.path.join(tmp, "collaborator.h5")
with h5py.File(collab, "w") as f:
    f.attrs["format"] = "strata-activations"
    f.attrs["format_version"] = 1
    f.attrs["complete"] = 1
    f["samples/id"] = np.array(["a", "b", "c"], dtype=object).astype(h5py.string_dtype())
    f["samples/status"] = np.array([1, 2, 1], dtype=np.int8)
    f["samples/error"] = np.array(["", "bad", ""], dtype=object).astype(h5py.string_dtype())
    f["activations/text"] = np.arange(2 * 3 * 4, dtype=np.float16).reshape(2, 3, 4)
expect_opens(collab, "b: bad", "text", "[2, 3, 4] float16")

# a results file: the generic listing
results = os.path.join(tmp, "results.h5")
with h5py.File(results, "w") as f:
    f.attrs["format"] = "strata-results"
    f.attrs["format_version"] = 1
    f["llava/image/spectrum"] = np.ones((3, 5), dtype=np.float64)
    f["llava/image/spectrum"].attrs["effective_rank"] = np.ones(3)
expect_opens(results, "strata-results", "spectrum [3, 5] float64", "llava/")

# the writer: a complete archive is not replaced without --overwrite
p = synth.mpirun(1, "mkarchive", "--out", good, "--samples", 30, "--layers", 2, "--hidden", 16,
                 check=False)
check(p.returncode != 0 and good in p.stderr and "--overwrite" in p.stderr,
      f"mkarchive over a complete archive: {p.returncode} {p.stderr}")
# resuming a damaged .partial is refused with its name
shutil.copyfile(cut, os.path.join(tmp, "resume.h5.partial"))
p = synth.mpirun(2, "mkarchive", "--out", os.path.join(tmp, "resume.h5"), "--samples", 30,
                 "--layers", 2, "--hidden", 16, check=False)
check(p.returncode != 0 and "resume.h5.partial" in p.stderr and "truncated" in p.stderr,
      f"resume of a truncated .partial: {p.returncode} {p.stderr}")

sys.exit(synth.finish("test_archive_errors"))
