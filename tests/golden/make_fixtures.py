#!/usr/bin/env python3
"""make_fixtures.py — writes the golden fixtures of the model engine (tests/golden/<name>/):
tiny random Hugging Face checkpoints (config.json + safetensors) and, in reference.h5, the inputs
and what transformers computes from the checkpoint as saved on disk: output_hidden_states of the
LLM and of the vision tower, the projector output, and teacher-forced token log-probabilities.

Run once with the fixture Python (PyPI torch + transformers + h5py; never needed by CI):
    /work/refenv/bin/python tests/golden/make_fixtures.py [NAME ...]   (default: all)
The versions and the seed are recorded in each reference.h5 (attributes of /).

reference.h5 (format "strata-golden", version 1), per case ("b1": batch 1, "b3": batch 3 with
right padding):
  /<case>/input_ids      [B][T] int32 (image tokens expanded, padding = 0 beyond lengths)
  /<case>/lengths        [B] int32
  /<case>/pixel_values   [N][3][S][S] float32          (LLaVA only)
  /<case>/llm_hidden     [L+1][B][T][D] float32        (hidden_states; [L] after the final norm)
  /<case>/vision_hidden  [Lv+1][N][P][Dv] float32      (LLaVA only)
  /<case>/connector      [N][n_image_tokens][D] float32 (LLaVA only)
  /<case>/logprobs       [B][T] float32: log p(ids[t+1] | ids[..t]), 0 from lengths[b]-1 on
"""
import json
import os
import shutil
import sys

import h5py
import numpy as np
import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import (AutoModelForCausalLM, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                          LlavaForConditionalGeneration, MistralConfig, Qwen2Config,
                          SiglipVisionConfig)

SEED = 1234
HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = 128
IMAGE_TOKEN = 127

# a tiny decoder: hidden 32, 4 heads of 8, 2 layers
TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=4, vocab_size=VOCAB, max_position_embeddings=128,
            rms_norm_eps=1e-5)
VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
              image_size=32, patch_size=8, num_channels=3)


def randomize(model, gen):
    """Weights with enough spread that every op matters (transformers' init is std 0.02)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1 and ("norm" in name or "layrnorm" in name) and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))


def fixtures():
    return [
        dict(name="llava_clip_llama", kind="llava",
             config=LlavaConfig(text_config=LlamaConfig(**TEXT).to_dict(),
                                vision_config=CLIPVisionConfig(**VISION).to_dict(),
                                image_token_id=IMAGE_TOKEN, vision_feature_layer=-2,
                                vision_feature_select_strategy="default")),
        dict(name="llava_siglip_qwen2_bf16", kind="llava", dtype=torch.bfloat16,
             layout="model.language_model", shards=2,
             config=LlavaConfig(text_config=Qwen2Config(**{**TEXT, "num_key_value_heads": 2},
                                                        rope_scaling={"rope_type": "linear",
                                                                      "factor": 2.0}).to_dict(),
                                vision_config=SiglipVisionConfig(**VISION).to_dict(),
                                image_token_id=IMAGE_TOKEN, vision_feature_layer=-2,
                                vision_feature_select_strategy="full")),
        dict(name="llava_clip_full_last", kind="llava",
             config=LlavaConfig(text_config=LlamaConfig(**TEXT).to_dict(),
                                vision_config=CLIPVisionConfig(**VISION).to_dict(),
                                image_token_id=IMAGE_TOKEN, vision_feature_layer=-1,
                                vision_feature_select_strategy="full",
                                projector_hidden_act="gelu")),
        dict(name="mistral_sliding", kind="text", seq=14,
             config=MistralConfig(**{**TEXT, "num_key_value_heads": 2}, sliding_window=5,
                                  tie_word_embeddings=True)),
        dict(name="llama3_rope", kind="text", seq=24,
             config=LlamaConfig(**TEXT, rope_scaling={"rope_type": "llama3", "factor": 8.0,
                                                      "low_freq_factor": 1.0,
                                                      "high_freq_factor": 4.0,
                                                      "original_max_position_embeddings": 16})),
        dict(name="llava_clip_multilayer", kind="llava",
             config=LlavaConfig(text_config=LlamaConfig(**TEXT, attention_bias=True,
                                                        tie_word_embeddings=True).to_dict(),
                                vision_config=CLIPVisionConfig(**VISION).to_dict(),
                                image_token_id=IMAGE_TOKEN, vision_feature_layer=[-3, -1],
                                vision_feature_select_strategy="default")),
    ]


def relayout(out_dir, prefix, shards):
    """Rewrite the saved LLaVA weights with the other key layout transformers has used
    (model.language_model.*, lm_head.weight, model.vision_tower.*, model.multi_modal_projector.*)
    and split them into shards with model.safetensors.index.json."""
    path = os.path.join(out_dir, "model.safetensors")
    tensors = load_file(path)
    renamed = {}
    for k, v in tensors.items():
        if k.startswith("language_model.model."):
            k = prefix + "." + k[len("language_model.model."):]
        elif k == "language_model.lm_head.weight":
            k = "lm_head.weight"
        elif k.startswith("vision_tower.") or k.startswith("multi_modal_projector."):
            k = "model." + k
        renamed[k] = v.contiguous()
    os.remove(path)
    names = sorted(renamed)
    weight_map = {}
    for s in range(shards):
        part = names[s::shards]
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        save_file({k: renamed[k] for k in part}, os.path.join(out_dir, fname),
                  metadata={"format": "pt"})
        weight_map.update({k: fname for k in part})
    total = sum(v.numel() * v.element_size() for v in renamed.values())
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


def make_inputs(fx, model, gen, batch):
    """input_ids [B][T] (right padded with 0), lengths, pixel_values or None."""
    if fx["kind"] == "llava":
        n_img = model.config.vision_config.image_size // model.config.vision_config.patch_size
        n_img = n_img * n_img + (1 if model.config.vision_config.model_type == "clip_vision_model" else 0)
        if model.config.vision_feature_select_strategy == "default":
            n_img -= 1
        rows = []
        for b in range(batch):
            pre = torch.randint(2, IMAGE_TOKEN, (2 + b,), generator=gen).tolist()
            post = torch.randint(2, IMAGE_TOKEN, (9 - 3 * b,), generator=gen).tolist()
            rows.append([1] + pre + [IMAGE_TOKEN] * n_img + post)
        s = model.config.vision_config.image_size
        pixels = torch.randn((batch, 3, s, s), generator=gen)
    else:
        rows = [[1] + torch.randint(2, VOCAB, (fx["seq"] - 1 - 4 * b,), generator=gen).tolist()
                for b in range(batch)]
        pixels = None
    lengths = [len(r) for r in rows]
    T = max(lengths)
    ids = torch.zeros((batch, T), dtype=torch.long)
    mask = torch.zeros((batch, T), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, :len(r)] = torch.tensor(r)
        mask[b, :len(r)] = 1
    return ids, mask, torch.tensor(lengths, dtype=torch.int32), pixels


def run_case(fx, model, gen, batch, grp):
    ids, mask, lengths, pixels = make_inputs(fx, model, gen, batch)
    with torch.no_grad():
        if fx["kind"] == "llava":
            out = model(input_ids=ids, attention_mask=mask, pixel_values=pixels,
                        output_hidden_states=True)
            vt = model.model.vision_tower(pixels, output_hidden_states=True)
            grp["pixel_values"] = pixels.numpy().astype(np.float32)
            grp["vision_hidden"] = torch.stack(vt.hidden_states).numpy().astype(np.float32)
            grp["connector"] = out.image_hidden_states.reshape(
                batch, -1, model.config.text_config.hidden_size).numpy().astype(np.float32)
        else:
            out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        logp = torch.log_softmax(out.logits.float(), dim=-1)
        lp = torch.zeros(ids.shape)
        for b in range(batch):
            for t in range(int(lengths[b]) - 1):
                lp[b, t] = logp[b, t, ids[b, t + 1]]
    grp["input_ids"] = ids.numpy().astype(np.int32)
    grp["lengths"] = lengths.numpy()
    grp["llm_hidden"] = torch.stack(out.hidden_states).numpy().astype(np.float32)
    grp["logprobs"] = lp.numpy().astype(np.float32)


def main():
    torch.manual_seed(SEED)
    only = sys.argv[1:]
    for i, fx in enumerate(fixtures()):
        if only and fx["name"] not in only:
            continue
        gen = torch.Generator().manual_seed(SEED + i)
        out_dir = os.path.join(HERE, fx["name"])
        shutil.rmtree(out_dir, ignore_errors=True)
        cfg = fx["config"]
        model = (LlavaForConditionalGeneration(cfg) if fx["kind"] == "llava"
                 else AutoModelForCausalLM.from_config(cfg))
        randomize(model, gen)
        dtype = fx.get("dtype", torch.float32)
        model.to(dtype).save_pretrained(out_dir)
        if os.path.exists(os.path.join(out_dir, "generation_config.json")):
            os.remove(os.path.join(out_dir, "generation_config.json"))
        if "layout" in fx:
            relayout(out_dir, fx["layout"], fx["shards"])
        # the reference: what transformers computes from the files as written, in f32
        # (bf16 weights upcast to f32), eager attention
        cls = LlavaForConditionalGeneration if fx["kind"] == "llava" else AutoModelForCausalLM
        ref = cls.from_pretrained(out_dir, dtype=torch.float32, attn_implementation="eager")
        ref.eval()
        with h5py.File(os.path.join(out_dir, "reference.h5"), "w") as f:
            f.attrs["format"] = "strata-golden"
            f.attrs["format_version"] = 1
            f.attrs["transformers_version"] = transformers.__version__
            f.attrs["torch_version"] = str(torch.__version__)
            f.attrs["seed"] = SEED + i
            f.attrs["weights_dtype"] = str(dtype).replace("torch.", "")
            f.attrs["made_by"] = "tests/golden/make_fixtures.py"
            for case, batch in (("b1", 1), ("b3", 3)):
                run_case(fx, ref, gen, batch, f.create_group(case))
        print(fx["name"], "ok", file=sys.stderr)


if __name__ == "__main__":
    main()
