"""test_mkdata.py — `strata mkdata`, synthetic and COCO import.
Synthetic: every image decodes with PIL at the asked size, the pixel at the labelled shape's
centre has the labelled colour and the background elsewhere does not, captions name the shape,
colour and position, the same seed gives identical files on 1 and 2 ranks, another seed differs.
COCO: a captions file in COCO's format (drawn here, with multi-caption and caption-less images):
the manifest holds N distinct images that have captions, each caption is one of that image's own
(trimmed), paths point into --images, the seed decides the choice, too large N is refused."""
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

strata = os.environ["STRATA_BIN"]
tmp = os.environ.get("STRATA_TEST_TMP", "/tmp")
mpiexec = os.environ.get("STRATA_MPIEXEC", "mpirun")
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL", msg)


def run(args, np_=1, ok=True):
    cmd = ([mpiexec, "-np", str(np_)] if np_ > 1 else []) + [strata] + args
    r = subprocess.run(cmd, capture_output=True, text=True)
    check((r.returncode == 0) == ok, f"{' '.join(args)} exited {r.returncode}: {r.stderr.strip()}")
    return r


def digest(folder):
    h = hashlib.sha256()
    for root, _, files in sorted(os.walk(folder)):
        for f in sorted(files):
            h.update(f.encode())
            h.update(open(os.path.join(root, f), "rb").read())
    return h.hexdigest()


COLOURS = {"red": (220, 30, 30), "green": (30, 160, 60), "blue": (40, 70, 220),
           "yellow": (240, 210, 30), "purple": (140, 50, 170), "orange": (245, 130, 20)}

# ---- synthetic ------------------------------------------------------------------------------
a, b, c = (os.path.join(tmp, x) for x in ("syn_a", "syn_b", "syn_c"))
run(["mkdata", "--out", a, "--n", "60", "--seed", "3", "--size", "96"])
run(["mkdata", "--out", b, "--n", "60", "--seed", "3", "--size", "96"], np_=2)
run(["mkdata", "--out", c, "--n", "60", "--seed", "4", "--size", "96"])
check(digest(a) == digest(b), "same seed on 1 and 2 ranks must give identical files")
check(digest(a) != digest(c), "another seed must give other files")
lines = [json.loads(l) for l in open(os.path.join(a, "manifest.jsonl"))]
check(len(lines) == 60, f"60 manifest lines, got {len(lines)}")
check(len({l["id"] for l in lines}) == 60, "ids are unique")
seen = set()
for l in lines:
    im = np.asarray(Image.open(os.path.join(a, l["image"])).convert("RGB")).astype(int)
    check(im.shape == (96, 96, 3), f"{l['id']}: size {im.shape}")
    x, y = int(l["x"] * 96), int(l["y"] * 96)
    want = np.array(COLOURS[l["colour"]])
    centre = im[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).mean(0)
    check(np.abs(centre - want).max() < 30, f"{l['id']}: centre colour {centre} is not {l['colour']}")
    corner = im[2 if l["y"] > 0.5 else 93, 2 if l["x"] > 0.5 else 93]  # the opposite corner
    check(np.abs(corner - want).max() > 40, f"{l['id']}: the background looks {l['colour']} too")
    cap = l["caption"].lower()
    for key in ("shape", "colour"):
        check(l[key] in cap, f"{l['id']}: caption '{cap}' lacks {key} '{l[key]}'")
    check(l["position"].split()[-1] in cap, f"{l['id']}: caption '{cap}' lacks position '{l['position']}'")
    row, col = ("top", "center", "bottom"), ("left", "center", "right")
    check(("top" in l["position"]) == (l["y"] < 1 / 3) and ("bottom" in l["position"]) == (l["y"] > 2 / 3),
          f"{l['id']}: position {l['position']} vs y {l['y']}")
    check(("left" in l["position"]) == (l["x"] < 1 / 3) and ("right" in l["position"]) == (l["x"] > 2 / 3),
          f"{l['id']}: position {l['position']} vs x {l['x']}")
    seen.add((l["shape"], l["colour"]))
check(len(seen) > 12, f"labels vary: only {len(seen)} shape/colour pairs in 60 samples")

# ---- COCO -----------------------------------------------------------------------------------
rng = np.random.default_rng(0)
coco_images = os.path.join(tmp, "coco_images")
os.makedirs(coco_images, exist_ok=True)
images, annotations, ann_id = [], [], 1000
for k in range(40):
    iid = int(rng.integers(1, 10 ** 6))
    if any(i["id"] == iid for i in images):
        continue
    name = f"COCO_val2014_{iid:012d}.jpg"
    images.append({"id": iid, "file_name": name, "width": 64, "height": 48})
    if k % 5 != 4:  # every fifth image exists on disk only; the rest too, except k % 7 == 0
        for j in range(1 + k % 5):
            annotations.append({"image_id": iid, "id": ann_id, "caption": f"  image {iid} caption {j}.\n"})
            ann_id += 1
    if k % 7:
        Image.new("RGB", (64, 48), (k, 2 * k, 3 * k)).save(os.path.join(coco_images, name))
rng.shuffle(annotations)
captions = os.path.join(tmp, "captions.json")
json.dump({"info": {}, "images": images, "annotations": annotations}, open(captions, "w"))
with_caps = {a["image_id"] for a in annotations}
caps_of = {}
for a_ in annotations:
    caps_of.setdefault(a_["image_id"], set()).add(a_["caption"].strip())

outs = {}
for name, seed in (("coco_s0", 0), ("coco_s0_again", 0), ("coco_s1", 1)):
    out = os.path.join(tmp, name)
    r = run(["mkdata", "--from-coco", captions, "--images", coco_images, "--n", "12", "--seed", str(seed),
             "--out", out])
    outs[name] = open(os.path.join(out, "manifest.jsonl")).read()
    rows = [json.loads(l) for l in outs[name].splitlines()]
    check(len(rows) == 12, f"{name}: 12 rows, got {len(rows)}")
    check(len({r_["coco_image_id"] for r_ in rows}) == 12, f"{name}: 12 distinct images")
    for r_ in rows:
        iid = r_["coco_image_id"]
        check(iid in with_caps, f"{name}: image {iid} has no captions in the file")
        check(r_["caption"] in caps_of.get(iid, ()), f"{name}: caption '{r_['caption']}' is not one of image {iid}'s")
        check(r_["image"] == os.path.join(os.path.realpath(coco_images), f"COCO_val2014_{iid:012d}.jpg"),
              f"{name}: image path {r_['image']}")
        check(r_["id"] == f"coco-{iid}", f"{name}: id {r_['id']}")
    missing = sum(not os.path.exists(r_["image"]) for r_ in rows)
    check((missing > 0) == ("missing" in r.stderr), f"{name}: {missing} missing files, stderr: {r.stderr.strip()}")
check(outs["coco_s0"] == outs["coco_s0_again"], "the same seed picks the same pairs")
check(outs["coco_s0"] != outs["coco_s1"], "another seed picks other pairs")
r = run(["mkdata", "--from-coco", captions, "--images", coco_images, "--n", "500", "--out",
         os.path.join(tmp, "coco_big")], ok=False)
check("only" in r.stderr and "500" in r.stderr, f"too large --n is explained: {r.stderr.strip()}")
r = run(["mkdata", "--from-coco", os.path.join(tmp, "nope.json"), "--images", coco_images, "--n", "5", "--out",
         os.path.join(tmp, "coco_none")], ok=False)
check("nope.json" in r.stderr, f"a missing captions file is named: {r.stderr.strip()}")

print("test_mkdata:", "FAIL" if failures else "PASS", f"({len(failures)} failures)")
sys.exit(1 if failures else 0)
