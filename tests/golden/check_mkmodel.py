#!/usr/bin/env python3
"""check_mkmodel.py — by-hand check (needs torch + transformers, so not a CI test) that a
`strata mkmodel` checkpoint loads in transformers (model, tokenizer, processor) and that strata
computes the same hidden states: writes DIR/reference.h5 in the golden format, then run
    build/tests/test_golden DIR
Usage: /work/refenv/bin/python tests/golden/check_mkmodel.py DIR
"""
import os
import sys

import h5py
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoProcessor, AutoTokenizer, LlavaForConditionalGeneration

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402


def main():
    out_dir = sys.argv[1]
    tok = AutoTokenizer.from_pretrained(out_dir)
    print("tokenizer:", type(tok).__name__, tok("the cat sat on the mat").input_ids)
    cfg = transformers.AutoConfig.from_pretrained(out_dir)
    llava = cfg.model_type == "llava"
    if llava:
        proc = AutoProcessor.from_pretrained(out_dir)
        import numpy as np
        from PIL import Image
        img = Image.fromarray((np.random.default_rng(0).random((40, 50, 3)) * 255).astype("uint8"))
        enc = proc(images=img, text="USER: <image>\nWhat is this? ASSISTANT:", return_tensors="pt")
        print("processor:", type(proc).__name__, enc["input_ids"].shape, enc["pixel_values"].shape)
        model = LlavaForConditionalGeneration.from_pretrained(out_dir, dtype=torch.float32,
                                                              attn_implementation="eager")
        mf.IMAGE_TOKEN = cfg.image_token_id
        fx = dict(kind="llava")
    else:
        model = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32,
                                                     attn_implementation="eager")
        fx = dict(kind="text", seq=20)
    mf.VOCAB = 256  # input ids drawn from the byte tokens
    model.eval()
    gen = torch.Generator().manual_seed(7)
    with h5py.File(os.path.join(out_dir, "reference.h5"), "w") as f:
        f.attrs["transformers_version"] = transformers.__version__
        for case, batch in (("b1", 1), ("b3", 3)):
            mf.run_case(fx, model, gen, batch, f.create_group(case))
    print("wrote", os.path.join(out_dir, "reference.h5"))


if __name__ == "__main__":
    main()
