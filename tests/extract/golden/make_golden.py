"""make_golden.py — reference activations for the end-to-end golden test of `strata extract`,
computed by Hugging Face transformers (processor + model, output_hidden_states) with the pooling
strata documents (DESIGN.md "Streams and tokens", pipeline/streams.h). Run once with the
reference environment (torch + transformers); CI never runs it, it reads the committed output.

    /work/refenv/bin/python tests/extract/golden/make_golden.py --inputs     # images + manifest
    /work/refenv/bin/python tests/extract/golden/make_golden.py --tokenizers # per fixture
    /work/refenv/bin/python tests/extract/golden/make_golden.py              # expected.h5 files

The checkpoints are the model engine's fixtures (tests/golden/NAME: config.json + safetensors,
tiny random LLaVA / Llama weights). They carry no tokenizer or image processor, so this script
writes them (tests/extract/golden/NAME/): a character-level BPE tokenizer.json (Llama style:
"\u2581" word marker, <s> prepended, <unk> for unknown characters, <image> = the config's image
token id) and the processor of the vision tower (CLIP: resize shortest edge + center crop;
SigLIP: resize to a square). extract_common.assemble_model() puts both together.

What each stream is, for sample i (transformers' conventions: hidden_states[0] = embedding
output, hidden_states[l] = output of block l, the last one after the final norm):
  image        LlavaProcessor(text=template with <image>, images=load_image(path)): mean over the
               positions whose id is the image token, per LLM layer
  image_last   the same input, last position
  caption      tokenizer(caption) (special tokens added) alone; every caption token (the span of
               tokenizer(caption, add_special_tokens=False) inside it), pool "all": ragged rows
  caption_last the same input, last position
  vision       vision_tower(pixel_values, output_hidden_states=True): mean over the patch tokens
               (CLS excluded), every vision layer
  connector    the projector output (outputs.image_hidden_states): mean over the image tokens

Fixture NAME -> tests/extract/golden/NAME/expected.h5 (+ the streams it holds: all six for the
LLaVA ones, caption and caption_last for the text-only one).
The file mirrors the archive layout: /activations/<stream> [L+1, R, D] float32, attrs layers,
pool; /index/caption/row_offset [N+1]; /samples/id; root attrs record the versions. LLaVA
fixtures also hold /run2/: a second extract run with image:all (every image token, ragged) and
vision:cls (CLIP's class token; SigLIP, which has none: vision:first, its first patch)."""
import argparse
import json
import os
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
inputs_dir = os.path.join(here, "inputs")
TEMPLATE = "USER: <image>\n{prompt} ASSISTANT:"
PROMPT = "Describe the image."
CAPTIONS = [
    "A red square on a blue background.",
    "Two green circles next to each other, one slightly larger than the other.",
    "Un café noir à côté d'une tasse, très chaud!",
    "A yellow triangle.",
    "stripes",
    "A small white dot in the corner of a black image, barely visible at all.",
]


def make_inputs():
    """Six small real image files (JPEG and PNG; RGB, grayscale, RGBA, palette; odd sizes)."""
    from PIL import Image, ImageDraw
    os.makedirs(os.path.join(inputs_dir, "images"), exist_ok=True)
    specs = [("0.jpg", "RGB", (64, 48)), ("1.png", "RGB", (40, 40)), ("2.jpg", "L", (33, 57)),
             ("3.png", "RGBA", (50, 30)), ("4.png", "P", (45, 45)), ("5.jpg", "RGB", (96, 64))]
    rng = np.random.default_rng(0)
    lines = []
    for i, (name, mode, size) in enumerate(specs):
        img = Image.new("RGB", size, tuple(int(x) for x in rng.integers(0, 256, 3)))
        d = ImageDraw.Draw(img)
        for _ in range(3):
            x0, y0 = int(rng.integers(0, size[0] // 2)), int(rng.integers(0, size[1] // 2))
            x1, y1 = x0 + int(rng.integers(4, size[0] // 2)), y0 + int(rng.integers(4, size[1] // 2))
            d.ellipse([x0, y0, x1, y1], fill=tuple(int(x) for x in rng.integers(0, 256, 3)))
        if mode == "RGBA":
            img = img.convert("RGBA")
            img.putalpha(Image.linear_gradient("L").resize(size))
        elif mode != "RGB":
            img = img.convert(mode)
        path = os.path.join(inputs_dir, "images", name)
        img.save(path, quality=90) if name.endswith(".jpg") else img.save(path)
        lines.append(json.dumps({"id": f"g{i}", "image": f"images/{name}", "caption": CAPTIONS[i]},
                                ensure_ascii=False))
    with open(os.path.join(inputs_dir, "manifest.jsonl"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


FIXTURES = ["llava_clip_llama", "llava_siglip_qwen2_bf16", "llama3_rope"]
sys.path.insert(0, os.path.join(here, ".."))
import extract_common  # noqa: E402  (assemble_model, weights_sha256)


def write_tokenizer_files(name):
    """tokenizer.json (char-level BPE with a few merges), tokenizer_config.json and, for a
    vision model, preprocessor_config.json, sized from the fixture's config.json."""
    import string
    cfg = json.load(open(os.path.join(here, "..", "..", "golden", name, "config.json")))
    text_cfg = cfg.get("text_config", cfg)
    vocab_size = text_cfg["vocab_size"]
    image_token = cfg.get("image_token_id", cfg.get("image_token_index"))
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for c in ["\u2581"] + list(string.ascii_letters + string.digits + ".,!'-\n?:;"):
        vocab[c] = len(vocab)
    merges = []
    for a, b in [("\u2581", "a"), ("\u2581", "t"), ("h", "e"), ("\u2581", "o"), ("i", "n"),
                 ("e", "r"), ("\u2581t", "he"), ("o", "n"), ("r", "e"), ("a", "n")]:
        merges.append([a, b])
        vocab[a + b] = len(vocab)
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for t, i in vocab.items() if t[0] == "<"]
    if image_token is not None:
        vocab["<image>"] = image_token
        added.append({**added[0], "id": image_token, "content": "<image>"})
    assert max(vocab.values()) < vocab_size, (name, max(vocab.values()), vocab_size)
    tok = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>",
                  "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": True,
                  "byte_fallback": False, "ignore_merges": False, "vocab": vocab, "merges": merges},
    }
    out = os.path.join(here, name)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                   "tokenizer_class": "PreTrainedTokenizerFast",
                   "model_max_length": text_cfg["max_position_embeddings"]}, f, indent=1)
    vc = cfg.get("vision_config")
    if vc:
        size = vc["image_size"]
        if vc["model_type"] == "clip_vision_model":
            pre = {"image_processor_type": "CLIPImageProcessor", "do_resize": True,
                   "size": {"shortest_edge": size}, "resample": 3, "do_center_crop": True,
                   "crop_size": {"height": size, "width": size}, "do_rescale": True,
                   "rescale_factor": 1 / 255, "do_normalize": True,
                   "image_mean": [0.48145466, 0.4578275, 0.40821073],
                   "image_std": [0.26862954, 0.26130258, 0.27577711], "do_convert_rgb": True}
        else:
            pre = {"image_processor_type": "SiglipImageProcessor", "do_resize": True,
                   "size": {"height": size, "width": size}, "resample": 3, "do_rescale": True,
                   "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [0.5, 0.5, 0.5],
                   "image_std": [0.5, 0.5, 0.5], "do_convert_rgb": True}
        with open(os.path.join(out, "preprocessor_config.json"), "w") as f:
            json.dump(pre, f, indent=1)


def find_span(full, plain):
    for i in range(len(full) - len(plain) + 1):
        if full[i:i + len(plain)] == plain:
            return i
    raise SystemExit(f"caption tokens {plain} not inside {full}")


def reference(name, model_dir, out_path):
    import h5py
    import torch
    import transformers
    from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer
    from transformers.image_utils import load_image

    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    is_llava = config.model_type == "llava"
    if is_llava:
        from transformers import LlavaForConditionalGeneration, LlavaProcessor
        model = LlavaForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32)
        improc = AutoImageProcessor.from_pretrained(model_dir, backend="pil")
        vc = config.vision_config
        has_cls = vc.model_type == "clip_vision_model"
        processor = LlavaProcessor(image_processor=improc, tokenizer=tok,
                                   patch_size=vc.patch_size,
                                   vision_feature_select_strategy=config.vision_feature_select_strategy,
                                   num_additional_image_tokens=1 if has_cls else 0)
        vision_tower = model.model.vision_tower
    else:
        from transformers import AutoModelForCausalLM
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()

    samples = [json.loads(l) for l in open(os.path.join(inputs_dir, "manifest.jsonl"), encoding="utf-8")]
    acts = {k: [] for k in (["image", "image_last", "vision", "connector"] if is_llava else [])}
    acts.update({"caption": [], "caption_last": []})
    run2 = {"image": [], "vision": []}  # a second extract run: image:all, vision:cls / first
    row_offset = [0]
    with torch.no_grad():
        for s in samples:
            if is_llava:
                # transformers' own loader (EXIF transpose, convert("RGB")), as its pipelines
                # use it; strata's decoder follows the same rules (io/image.h)
                img = load_image(os.path.join(inputs_dir, s["image"]))
                text = TEMPLATE.replace("{prompt}", PROMPT)
                inputs = processor(images=img, text=text, return_tensors="pt")
                out = model(**inputs, output_hidden_states=True)
                ids = inputs["input_ids"][0]
                mask = ids == processor.image_token_id
                hs = torch.stack(out.hidden_states)[:, 0]                 # [L+1, T, D]
                acts["image"].append(hs[:, mask].mean(1))                 # [L+1, D]
                run2["image"].append(hs[:, mask])                         # [L+1, n_img, D]
                acts["image_last"].append(hs[:, -1])
                acts["connector"].append(out.image_hidden_states.reshape(1, -1, hs.shape[-1]).mean(1))
                vout = vision_tower(inputs["pixel_values"], output_hidden_states=True)
                vhs = torch.stack(vout.hidden_states)[:, 0]               # [Lv+1, P, Dv]
                acts["vision"].append(vhs[:, 1 if has_cls else 0:].mean(1))
                run2["vision"].append(vhs[:, 0])    # CLIP: the class token; SigLIP: patch 0
            full = tok(s["caption"])["input_ids"]
            plain = tok(s["caption"], add_special_tokens=False)["input_ids"]
            at = find_span(full, plain)
            out = model(input_ids=torch.tensor([full]), output_hidden_states=True)
            hs = torch.stack(out.hidden_states)[:, 0]                     # [L+1, T, D]
            acts["caption"].append(hs[:, at:at + len(plain)])             # [L+1, n, D] (all)
            acts["caption_last"].append(hs[:, -1])
            row_offset.append(row_offset[-1] + len(plain))

    with h5py.File(out_path, "w") as f:
        f.attrs["transformers_version"] = transformers.__version__
        f.attrs["torch_version"] = str(torch.__version__)
        f.attrs["numpy_version"] = np.__version__
        f.attrs["fixture"] = name
        f.attrs["weights_sha256"] = extract_common.weights_sha256(model_dir)
        f.attrs["template"] = TEMPLATE
        f.attrs["prompt"] = PROMPT
        f.attrs["script"] = "tests/extract/golden/make_golden.py"
        f["samples/id"] = np.array([s["id"] for s in samples], dtype="S")
        for name, rows in acts.items():
            if name == "caption":
                data = torch.cat(rows, dim=1)                             # [L+1, R, D]
                f["index/caption/row_offset"] = np.array(row_offset, dtype=np.int64)
                pool = "all"
            else:
                data = torch.stack(rows, dim=1)                           # [L+1, N, D]
                pool = "last" if name.endswith("_last") else "mean"
            d = f.create_dataset(f"activations/{name}", data=data.numpy().astype(np.float32))
            d.attrs["pool"] = pool
            d.attrs["layers"] = np.arange(data.shape[0], dtype=np.int32)
        if is_llava:
            data = torch.cat(run2["image"], dim=1)
            d = f.create_dataset("run2/activations/image", data=data.numpy())
            d.attrs["pool"] = "all"
            n_img = run2["image"][0].shape[1]
            f["run2/index/image/row_offset"] = np.arange(len(samples) + 1, dtype=np.int64) * n_img
            d = f.create_dataset("run2/activations/vision",
                                 data=torch.stack(run2["vision"], dim=1).numpy())
            d.attrs["pool"] = "cls" if has_cls else "first"
    print(f"wrote {out_path}: streams {sorted(acts)}" + (", run2 image:all, vision" if is_llava else ""))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--inputs", action="store_true", help="(re)make the images and manifest")
    ap.add_argument("--tokenizers", action="store_true", help="(re)write the tokenizer files")
    ap.add_argument("fixtures", nargs="*", default=FIXTURES)
    a = ap.parse_args()
    if a.inputs:
        make_inputs()
    if a.tokenizers:
        for name in a.fixtures:
            write_tokenizer_files(name)
    if not a.inputs and not a.tokenizers:
        import tempfile
        for name in a.fixtures:
            with tempfile.TemporaryDirectory() as tmp:
                model_dir = extract_common.assemble_model(name, os.path.join(tmp, name))
                reference(name, model_dir, os.path.join(here, name, "expected.h5"))
