#!/usr/bin/env python3
"""bench_image.py — images/s of decode + preprocess: strata (tests/bench/bench_image.c, a C loop
of strata_image_load + strata_preprocess_run) next to PIL alone (Image.open + exif_transpose +
convert + resize + crop, then numpy rescale/normalise) and transformers (load_image +
AutoImageProcessor, the PIL backend), on the same N JPEG files, one thread each, medians of RUNS.
Times are CPU seconds of the process (time.process_time / CLOCK_PROCESS_CPUTIME_ID): the machines
are shared by many jobs, so wall time measures the neighbours; single-threaded work is CPU time.

  /work/refenv/bin/python tests/bench/bench_image.py BUILD_DIR [RUNS] [N]

Images: N photo-like JPEGs (quality 90, 4:2:0) of 640 x 480 and 480 x 640 (COCO's usual sizes),
drawn by tests/image/gen_images.py. Config: CLIP ViT-L/14-336 as LLaVA-1.5 uses it (shortest edge
336, center crop 336, bicubic). The outputs of the three are checked equal before timing."""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"
import numpy as np  # noqa: E402
import PIL  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "image"))
import configs  # noqa: E402
import gen_images  # noqa: E402

build = sys.argv[1]
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
n = int(sys.argv[3]) if len(sys.argv) > 3 else 200
tmp = os.environ.get("BENCH_IMAGE_DIR") or tempfile.mkdtemp(prefix="bench_image_")
cfg = configs.FULL["clip336"]
model = os.path.join(tmp, "model")
os.makedirs(model, exist_ok=True)
json.dump(cfg, open(os.path.join(model, "preprocessor_config.json"), "w"))
files = []
for i in range(n):
    w, h = (640, 480) if i % 3 else (480, 640)
    path = os.path.join(tmp, f"{i:04d}.jpg")
    if not os.path.exists(path):
        gen_images.picture(w, h, 1000 + i).save(path, quality=90)
    files.append(path)

mean = np.array(cfg["image_mean"], dtype=np.float32)
std = np.array(cfg["image_std"], dtype=np.float32)


def pil_one(path):
    im = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    w, h = im.size
    s = cfg["size"]["shortest_edge"]
    nw, nh = (s, int(s * h / w)) if w <= h else (int(s * w / h), s)
    im = im.resize((nw, nh), Image.Resampling.BICUBIC, reducing_gap=None)
    c = cfg["crop_size"]["height"]
    top, left = (nh - c) // 2, (nw - c) // 2
    u8 = np.asarray(im.crop((left, top, left + c, top + c)))
    x = (u8.astype(np.float64) * cfg["rescale_factor"]).astype(np.float32)
    return ((x - mean) / std).transpose(2, 0, 1)


def time_python(fn):
    out = []
    for _ in range(runs):
        t0 = time.process_time()
        for f in files:
            fn(f)
        out.append(time.process_time() - t0)
    return statistics.median(out)


from transformers import AutoImageProcessor  # noqa: E402
from transformers import __version__ as tf_version  # noqa: E402
from transformers.image_utils import load_image  # noqa: E402

proc = AutoImageProcessor.from_pretrained(model)


def transformers_one(path):
    return proc(load_image(path), return_tensors="np")["pixel_values"][0]


# equal outputs first (strata through `strata preprocess` on a few files)
for f in files[:3]:
    out = os.path.join(tmp, "check.h5")
    subprocess.run([os.path.join(build, "strata"), "preprocess", "--model", model, f, "--out", out],
                   check=True, capture_output=True)
    import h5py
    mine = h5py.File(out, "r")["pixel_values"][()]
    assert np.abs(mine - transformers_one(f)).max() <= 1e-5 and np.abs(mine - pil_one(f)).max() <= 1e-5

bench = os.path.join(build, "tests", "bench_image")
r = subprocess.run([bench, model, str(runs)] + files, capture_output=True, text=True, check=True)
rows = [l.split() for l in r.stdout.splitlines()]
strata_total = statistics.median(float(x[5]) for x in rows)
strata_decode = statistics.median(float(x[3]) for x in rows)
pil_total = time_python(pil_one)
tf_total = time_python(transformers_one)
pil_decode = time_python(lambda f: ImageOps.exif_transpose(Image.open(f)).convert("RGB"))

print(f"{n} JPEGs (640x480 / 480x640) -> CLIP-336 pixel_values, 1 thread, CPU time, median of {runs} runs")
print(f"pillow {PIL.__version__}, transformers {tf_version}, numpy {np.__version__}")
print(f"{'':28s} {'images/s':>10s} {'decode images/s':>16s}")
print(f"{'strata':28s} {n / strata_total:10.1f} {n / strata_decode:16.1f}")
print(f"{'PIL + numpy':28s} {n / pil_total:10.1f} {n / pil_decode:16.1f}")
print(f"{'transformers (PIL backend)':28s} {n / tf_total:10.1f} {n / pil_decode:16.1f}")
print(f"strata / PIL = {pil_total / strata_total:.2f}x, strata / transformers = {tf_total / strata_total:.2f}x")
