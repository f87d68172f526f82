#!/usr/bin/env python3
"""test_mkmodel.py — `strata mkmodel` writes a standard Hugging Face checkpoint: the `tokenizers`
library loads tokenizer.json (byte-level BPE) and encodes `<image>` as the one token whose id is
config.json's image_token_index; model.safetensors parsed here independently (8-byte length, JSON
header, spans) holds every tensor with the shapes config.json implies; the same seed gives the
same bytes and another seed different ones; bf16 halves the weights. (That transformers loads
these checkpoints and matches strata was checked by hand: tests/golden/check_mkmodel.py.)"""
import json
import os
import struct
import subprocess
import sys

from tokenizers import Tokenizer

BIN = os.environ["STRATA_BIN"]
TMP = os.environ.get("STRATA_TEST_TMP", "/tmp")
failures = 0


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", msg)


def mkmodel(name, *args):
    out = os.path.join(TMP, name)
    subprocess.run([BIN, "mkmodel", "--out", out, *args], check=True)
    return out


def header(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    h = json.loads(data[8:8 + n])
    h.pop("__metadata__", None)
    spans = sorted((v["data_offsets"][0], v["data_offsets"][1], k) for k, v in h.items())
    end = 0
    for b, e, k in spans:
        check(b >= end, f"{path}: {k} overlaps")
        end = e
    check(8 + n + end == len(data), f"{path}: data size {len(data) - 8 - n} != spans {end}")
    return h, data


llava = mkmodel("llava", "--arch", "llava", "--preset", "tiny", "--seed", "5")
cfg = json.load(open(os.path.join(llava, "config.json")))
check(cfg["architectures"] == ["LlavaForConditionalGeneration"], "architecture")
tok = Tokenizer.from_file(os.path.join(llava, "tokenizer.json"))
enc = tok.encode("USER: <image>\nthe cat is on the mat")
img = cfg["image_token_index"]
check(enc.ids.count(img) == 1, f"<image> -> {enc.ids}, expected one {img}")
check(tok.token_to_id("<image>") == img, "image token id")
check(tok.decode(enc.ids, skip_special_tokens=True) == "USER: \nthe cat is on the mat",
      f"round trip: {tok.decode(enc.ids, skip_special_tokens=True)!r}")
check(max(enc.ids) < cfg["text_config"]["vocab_size"], "ids inside the vocabulary")
h, data = header(os.path.join(llava, "model.safetensors"))
tc, vc = cfg["text_config"], cfg["vision_config"]
D, V = tc["hidden_size"], tc["vocab_size"]
expect = {
    "language_model.model.embed_tokens.weight": [V, D],
    "language_model.lm_head.weight": [V, D],
    "language_model.model.layers.1.mlp.down_proj.weight": [D, tc["intermediate_size"]],
    "language_model.model.layers.0.self_attn.k_proj.weight":
        [tc["num_key_value_heads"] * tc["head_dim"], D],
    "vision_tower.vision_model.embeddings.patch_embedding.weight":
        [vc["hidden_size"], 3, vc["patch_size"], vc["patch_size"]],
    "vision_tower.vision_model.embeddings.position_embedding.weight":
        [(vc["image_size"] // vc["patch_size"]) ** 2 + 1, vc["hidden_size"]],
    "multi_modal_projector.linear_1.weight": [D, vc["hidden_size"]],
}
for k, shape in expect.items():
    check(k in h and h[k]["shape"] == shape and h[k]["dtype"] == "F32",
          f"{k}: {h.get(k)} expected F32 {shape}")
check(len([k for k in h if ".layers." in k and "language_model" in k]) == 9 * tc["num_hidden_layers"],
      "decoder layer tensors")
pre = json.load(open(os.path.join(llava, "preprocessor_config.json")))
check(pre["crop_size"]["height"] == vc["image_size"] and pre["image_processor_type"] == "CLIPImageProcessor",
      "preprocessor_config")

same = mkmodel("llava_again", "--arch", "llava", "--preset", "tiny", "--seed", "5")
other = mkmodel("llava_other", "--arch", "llava", "--preset", "tiny", "--seed", "6")
read = lambda d: open(os.path.join(d, "model.safetensors"), "rb").read()
check(read(same) == data, "same seed, same weights")
check(read(other) != data, "another seed, other weights")

llama = mkmodel("llama_bf16", "--arch", "llama", "--preset", "tiny", "--dtype", "bf16")
cfg = json.load(open(os.path.join(llama, "config.json")))
h, data = header(os.path.join(llama, "model.safetensors"))
check(cfg["architectures"] == ["LlamaForCausalLM"] and cfg["dtype"] == "bfloat16", "llama config")
check(all(v["dtype"] == "BF16" for v in h.values()), "bf16 tensors")
check(h["model.embed_tokens.weight"]["shape"] == [cfg["vocab_size"], cfg["hidden_size"]], "embed shape")
check(Tokenizer.from_file(os.path.join(llama, "tokenizer.json")).token_to_id("<image>") is None,
      "no <image> token for a text model")

bad = subprocess.run([BIN, "mkmodel", "--arch", "gpt2", "--preset", "tiny", "--out", TMP],
                     capture_output=True, text=True)
check(bad.returncode == 2 and "--arch llava|llama" in bad.stderr, f"bad arch: {bad.stderr}")
print("test_mkmodel:", "PASS" if failures == 0 else f"FAIL ({failures} failures)")
sys.exit(1 if failures else 0)
