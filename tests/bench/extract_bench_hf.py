"""extract_bench_hf.py — the reference for tests/bench/extract_bench.sh: Hugging Face
transformers doing the forward work of `strata extract --streams image,caption` on the same
checkpoint, manifest, batch and threads (image prompt with the image, then the caption alone,
output_hidden_states, mean pooling), without writing anything. Prints "samples/s X".
    /work/refenv/bin/python tests/bench/extract_bench_hf.py MODEL_DIR MANIFEST BATCH THREADS"""
import json
import os
import sys
import time

import torch
from transformers import (AutoImageProcessor, AutoTokenizer, LlavaForConditionalGeneration,
                          LlavaProcessor)
from transformers.image_utils import load_image

model_dir, manifest, batch, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
model = LlavaForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32).eval()
tok = AutoTokenizer.from_pretrained(model_dir)
tok.padding_side = "right"
if tok.pad_token is None:
    tok.pad_token = tok.eos_token or tok.unk_token
vc = model.config.vision_config
proc = LlavaProcessor(image_processor=AutoImageProcessor.from_pretrained(model_dir, backend="pil"),
                      tokenizer=tok, patch_size=vc.patch_size,
                      vision_feature_select_strategy=model.config.vision_feature_select_strategy,
                      num_additional_image_tokens=1)
rows = [json.loads(l) for l in open(manifest)]
base = os.path.dirname(manifest)
prompt = "USER: <image>\nDescribe the image. ASSISTANT:"
t0 = time.perf_counter()
with torch.no_grad():
    for i in range(0, len(rows), batch):
        chunk = rows[i:i + batch]
        images = [load_image(os.path.join(base, r["image"])) for r in chunk]
        x = proc(images=images, text=[prompt] * len(chunk), return_tensors="pt", padding=True)
        out = model(**x, output_hidden_states=True)
        mask = (x["input_ids"] == proc.image_token_id).unsqueeze(-1).float()
        pooled = [(h * mask).sum(1) / mask.sum(1) for h in out.hidden_states]
        c = tok([r["caption"] for r in chunk], return_tensors="pt", padding=True)
        out = model(**c, output_hidden_states=True)
        m = c["attention_mask"].unsqueeze(-1).float()
        pooled += [(h * m).sum(1) / m.sum(1) for h in out.hidden_states]
dt = time.perf_counter() - t0
print(f"samples/s {len(rows) / dt:.3f}")
