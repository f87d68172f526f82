#!/usr/bin/env python3
"""bench_forward.py — transformers' forward on the same checkpoint and inputs as bench_forward.c:
LlavaModel (no LM head, as strata's capture run) with output_hidden_states=True, f32, on the CPU
with the given threads, default attention implementation (sdpa). Prints one JSON line.
Usage: bench_forward.py DIR BATCH TEXT_TOKENS RUNS THREADS   (fixture Python: torch needed)"""
import json
import statistics
import sys
import time

import torch
from transformers import AutoConfig, AutoModelForCausalLM, LlavaForConditionalGeneration


def main():
    d, B, text, runs, threads = sys.argv[1], *map(int, sys.argv[2:])
    torch.set_num_threads(threads)
    cfg = AutoConfig.from_pretrained(d)
    llava = cfg.model_type == "llava"
    if llava:
        model = LlavaForConditionalGeneration.from_pretrained(d, dtype=torch.float32).model
        g = cfg.vision_config.image_size // cfg.vision_config.patch_size
        n_img = g * g + (0 if cfg.vision_feature_select_strategy == "default" else 1)
        S = cfg.vision_config.image_size
    else:
        model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).model
        n_img = 0
    model.eval()
    rows = []
    for b in range(B):  # as bench_forward.c: [1, <image> x n_img, text ids]
        rows.append([1] + [cfg.image_token_index] * n_img * llava + [32 + (b * 7 + t * 13) % 200 for t in range(text)])
    ids = torch.tensor(rows)
    kw = dict(input_ids=ids, output_hidden_states=True)
    if llava:
        i = torch.arange(B * 3 * S * S, dtype=torch.int64)
        kw["pixel_values"] = (((i * 2654435761) % (1 << 32)) % 1000).float().div(500).sub(1).reshape(B, 3, S, S)
    times = []
    with torch.inference_mode():
        model(**kw)
        for _ in range(runs):
            t0 = time.perf_counter()
            out = model(**kw)
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    T = ids.shape[1]
    print(json.dumps({"system": "transformers", "torch": torch.__version__, "batch": B, "seq_len": T,
                      "threads": threads, "median_s": round(med, 4),
                      "images_per_s": round(B / med, 3) if llava else 0,
                      "tokens_per_s": round(B * T / med, 1), "n_hidden": len(out.hidden_states),
                      "attn": model.config._attn_implementation if hasattr(model.config, "_attn_implementation") else ""}))


if __name__ == "__main__":
    main()
