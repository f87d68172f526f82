"""extract_common.py — shared by the end-to-end tests of `strata extract`: a dataset of real
image files (PIL) with planted bad samples, running strata (with or without mpirun), and
comparing archives read back with h5py."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

STRATA = os.environ.get("STRATA_BIN", "strata")
MPIEXEC = os.environ.get("STRATA_MPIEXEC", "mpirun")
TMP = os.environ.get("STRATA_TEST_TMP", "/tmp")
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what, flush=True)
    return cond


def finish(name):
    print("FAIL" if failures else "PASS", name, f"({failures} failures)", flush=True)
    sys.exit(1 if failures else 0)


def mpi_cmd(np_, args):
    if np_ == 0:  # no launcher: a singleton MPI process
        return [STRATA, *args]
    return [MPIEXEC, "--allow-run-as-root", "--oversubscribe", "-np", str(np_), STRATA, *args]


def run(np_, args, expect=0, env=None):
    e = dict(os.environ, **(env or {}))
    p = subprocess.run(mpi_cmd(np_, args), capture_output=True, text=True, env=e)
    if expect is not None and p.returncode != expect:
        print(f"command {' '.join(mpi_cmd(np_, args))} exited {p.returncode}, expected {expect}")
        print(p.stdout[-3000:], p.stderr[-6000:])
    check(expect is None or p.returncode == expect, f"exit code {p.returncode} != {expect}")
    return p


def make_model(path, arch="llava"):
    if not os.path.exists(os.path.join(path, "config.json")):
        run(0, ["mkmodel", "--arch", arch, "--preset", "tiny", "--out", path])
    return path


BAD = {}  # id -> what the error must mention


def make_dataset(folder, n_good, seed=0, bad=True):
    """n_good images of coloured shapes with captions that describe them, plus (bad=True) a
    missing image, a truncated JPEG, a text file named .jpg, an empty caption and a caption far
    longer than any tiny model's context, spread among the good ones."""
    from PIL import Image, ImageDraw
    os.makedirs(os.path.join(folder, "images"), exist_ok=True)
    rng = np.random.default_rng(seed)
    colours = {"red": (220, 30, 30), "green": (30, 200, 60), "blue": (40, 60, 220),
               "yellow": (230, 220, 40), "white": (250, 250, 250), "black": (5, 5, 5)}
    names = list(colours)
    rows = []
    for i in range(n_good):
        w, h = int(rng.integers(24, 90)), int(rng.integers(24, 90))
        bg, fg = rng.choice(len(names), 2, replace=False)
        img = Image.new("RGB", (w, h), colours[names[bg]])
        shape = ["square", "circle"][i % 2]
        x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        box = [x0, y0, x0 + w // 3, y0 + h // 3]
        (ImageDraw.Draw(img).rectangle if shape == "square" else ImageDraw.Draw(img).ellipse)(
            box, fill=colours[names[fg]])
        name = f"{i}.jpg" if i % 3 else f"{i}.png"
        img.save(os.path.join(folder, "images", name))
        where = "left" if x0 < w / 4 else "right"
        rows.append({"id": f"s{i}", "image": f"images/{name}",
                     "caption": f"A {names[fg]} {shape} on the {where} of a {names[bg]} picture."})
    if bad:
        good_jpg = os.path.join(folder, "images", "1.jpg")
        data = open(good_jpg, "rb").read()
        open(os.path.join(folder, "images", "truncated.jpg"), "wb").write(data[: len(data) // 3])
        open(os.path.join(folder, "images", "text.jpg"), "w").write("this is not an image\n")
        bads = [
            ({"id": "bad-missing", "image": "images/nope.jpg", "caption": "A missing picture."},
             "nope.jpg"),
            ({"id": "bad-truncated", "image": "images/truncated.jpg", "caption": "Cut short."},
             "truncated.jpg"),
            ({"id": "bad-notimage", "image": "images/text.jpg", "caption": "Not a picture."},
             "text.jpg"),
            ({"id": "bad-empty", "image": "images/1.jpg", "caption": ""}, "caption"),
            ({"id": "bad-imagetoken", "image": "images/1.jpg",
              "caption": "A caption with <image> in it."}, "image token"),
            ({"id": "bad-long", "image": "images/1.jpg",
              "caption": " ".join(f"word{j} and more" for j in range(3000))}, "context"),
        ]
        for k, (row, needle) in enumerate(bads):
            rows.insert(min(len(rows), 2 + k * max(1, n_good // len(bads))), row)
            BAD[row["id"]] = needle
    with open(os.path.join(folder, "manifest.jsonl"), "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return os.path.join(folder, "manifest.jsonl"), [r["id"] for r in rows]


def read_archive(path):
    """{stream: (data [L, R, D] float32, row_offset or None)}, ids, status, errors, attrs."""
    with h5py.File(path, "r") as f:
        streams = {}
        for name, d in f["activations"].items():
            ro = f[f"index/{name}/row_offset"][()] if f"index/{name}" in f else None
            streams[name] = (d[()].astype(np.float32), ro, dict(d.attrs))
        ids = [x.decode() if isinstance(x, bytes) else x for x in f["samples/id"][()]]
        status = f["samples/status"][()]
        errors = [x.decode() if isinstance(x, bytes) else x for x in f["samples/error"][()]]
        attrs = dict(f.attrs)
    return streams, ids, status, errors, attrs


def rows_of(ro, i):
    return slice(i, i + 1) if ro is None else slice(ro[i], ro[i + 1])


def compare(a_path, b_path, rtol, label):
    """Archive a equals archive b: same ids, statuses, errors, row offsets; per sample, layer
    and row, ||a - b|| <= rtol ||b||. Returns the worst relative error."""
    a, ida, sa, ea, _ = read_archive(a_path)
    b, idb, sb, eb, _ = read_archive(b_path)
    check(ida == idb, f"{label}: ids differ")
    check(np.array_equal(sa, sb), f"{label}: statuses differ {sa} vs {sb}")
    check(ea == eb, f"{label}: errors differ")
    check(sorted(a) == sorted(b), f"{label}: streams {sorted(a)} vs {sorted(b)}")
    worst = 0.0
    for name in sorted(set(a) & set(b)):
        da, roa, _ = a[name]
        db, rob, _ = b[name]
        if not check(da.shape == db.shape, f"{label}: {name} shape {da.shape} vs {db.shape}"):
            continue
        if roa is not None or rob is not None:
            check(roa is not None and rob is not None and np.array_equal(roa, rob),
                  f"{label}: {name} row offsets differ")
        num = np.linalg.norm(da - db, axis=2)
        den = np.linalg.norm(db, axis=2)
        rel = np.where(den > 0, num / np.maximum(den, 1e-30), num)
        worst = max(worst, float(rel.max()) if rel.size else 0.0)
        check(rel.max() <= rtol if rel.size else True,
              f"{label}: stream {name}: worst row relative error {rel.max():.3g} > {rtol}")
    return worst


def wait_for_lines(proc, pattern, count, timeout=300):
    """Read proc.stderr until `count` lines contain `pattern`; returns the lines read."""
    seen, lines, t0 = 0, [], time.time()
    while seen < count and time.time() - t0 < timeout:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if pattern in line:
            seen += 1
    return lines


def child_pids(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def rank_pids(proc, np_):
    """The strata processes of a run started by start(): mpirun's children (Open MPI puts each
    rank in its own process group, so signalling mpirun's group does not reach them), or the
    process itself without a launcher."""
    if np_ == 0:
        return [proc.pid]
    for _ in range(100):
        kids = child_pids(proc.pid)
        if len(kids) == np_:
            return kids
        time.sleep(0.05)
    return child_pids(proc.pid)


def signal_all(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


# ---- golden fixtures: the model engine's checkpoints (tests/golden/NAME: config + weights)
# completed with the tokenizer and image-processor files of tests/extract/golden/NAME ----------
SOURCE = os.environ.get("STRATA_SOURCE_DIR",
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
GOLDEN = os.path.join(SOURCE, "tests", "extract", "golden")


def assemble_model(name, dest):
    """A checkpoint folder `dest` = tests/golden/NAME's config.json + safetensors (+ index) and
    tests/extract/golden/NAME's tokenizer.json, tokenizer_config.json, preprocessor_config.json."""
    import shutil
    os.makedirs(dest, exist_ok=True)
    weights = os.path.join(SOURCE, "tests", "golden", name)
    for f in sorted(os.listdir(weights)):
        if f == "config.json" or f.endswith(".safetensors") or f.endswith(".index.json"):
            shutil.copy(os.path.join(weights, f), dest)
    extra = os.path.join(GOLDEN, name)
    for f in ("tokenizer.json", "tokenizer_config.json", "preprocessor_config.json"):
        if os.path.exists(os.path.join(extra, f)):
            shutil.copy(os.path.join(extra, f), dest)
    return dest


def weights_sha256(model_dir):
    h = hashlib.sha256()
    for f in sorted(os.listdir(model_dir)):
        if f.endswith(".safetensors"):
            h.update(open(os.path.join(model_dir, f), "rb").read())
    return h.hexdigest()
