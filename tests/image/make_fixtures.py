"""make_fixtures.py — writes the committed pixels fixtures: the small image set (data/*.jpg,
*.png, drawn by gen_images.py) and data/expected_transformers.npz, the pixel_values that
transformers' image processors give for each image under each SMALL config (configs.py), loaded
as a researcher would: transformers.image_utils.load_image + AutoImageProcessor (PIL backend).
Run with the reference environment (transformers needed; CI only reads the outputs):
    /work/refenv/bin/python tests/image/make_fixtures.py
Versions are recorded in data/versions.json."""
import json
import os
import sys

import numpy as np
import PIL
import transformers
from transformers import AutoImageProcessor
from transformers.image_utils import load_image

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import configs  # noqa: E402
import gen_images  # noqa: E402

data = os.path.join(here, "data")
names = gen_images.make_set(data, 1.0)
expected = {}
tmp = os.path.join(data, "_cfg")
for cname, cfg in configs.SMALL.items():
    os.makedirs(tmp, exist_ok=True)
    with open(os.path.join(tmp, "preprocessor_config.json"), "w") as f:
        json.dump(cfg, f)
    proc = AutoImageProcessor.from_pretrained(tmp)
    for name in names:
        pv = proc(load_image(os.path.join(data, name)), return_tensors="np")["pixel_values"][0]
        expected[f"{cname}/{name}"] = pv.astype(np.float32)
    print(cname, type(proc).__name__)
os.remove(os.path.join(tmp, "preprocessor_config.json"))
os.rmdir(tmp)
np.savez_compressed(os.path.join(data, "expected_transformers.npz"), **expected)
with open(os.path.join(data, "versions.json"), "w") as f:
    json.dump({"transformers": transformers.__version__, "pillow": PIL.__version__,
               "numpy": np.__version__, "processor_backend": "pil (AutoImageProcessor)",
               "images": names}, f, indent=1)
print("wrote", len(expected), "expected tensors")
