#!/usr/bin/env python3
"""make_interventions.py — the transformers reference for strata's --intervene (issue 10): on the
golden checkpoint tests/golden/llava_clip_llama (inputs: its reference.h5 case "b3", 3 rows with
right padding), each intervention is done with torch hooks and the hidden states and
teacher-forced log-probabilities are written to tests/golden/interventions/reference.h5.

Run once with the fixture Python (PyPI torch + transformers + h5py; never needed by CI):
    /work/refenv/bin/python tests/golden/make_interventions.py
Versions are recorded as attributes of /.

It also writes tests/golden/interventions/extract_nll.h5, the reference of `strata extract --nll
[--intervene ...]` on the extract golden inputs (tests/extract/golden/inputs, the llava_clip_llama
checkpoint with its tokenizer and processor, as tests/extract/golden/make_golden.py builds them):
per sample, LlavaProcessor(images, text=template with the prompt) ids followed by
tokenizer(caption, add_special_tokens=False) ids; nll = -sum log p(caption token | before it).
  /samples/id [N], /<name>/nll [N] float64, attrs spec; root attrs template, prompt, versions.

Conventions (pipeline/model/intervene.h): block i is language_model.layers[i]; hidden state l is
the input of block l (after any ablation at l) for l < L, and l = L the final norm's output.
Image rows are the positions holding the image token id (within each row's length).
reference.h5:
  /input_ids [B][T] int32, /lengths [B] int32, /pixel_values [B][3][S][S] float32
  /<name>/  attrs spec ("{golden}" stands for the tests/golden folder)
            llm_hidden [L+1][B][T][D] float32, logprobs [B][T] float32 (log p(ids[t+1]|..t), 0
            from lengths[b]-1 on), nll [B] float64: -sum of logprobs of the caption tokens (the
            tokens after the image run) given image + prompt
  /ablate_mean.f32 is written beside: float32 [D], the mean of baseline hidden state 1 over the
  image rows (the "dataset mean" the mean ablation uses).
"""
import copy
import os

import h5py
import numpy as np
import torch
import transformers
from transformers import LlavaForConditionalGeneration

HERE = os.path.dirname(os.path.abspath(__file__))
CKPT = os.path.join(HERE, "llava_clip_llama")
DONOR = os.path.join(HERE, "llava_clip_full_last")  # same decoder shape, other weights
OUT = os.path.join(HERE, "interventions")


def load(path):
    m = LlavaForConditionalGeneration.from_pretrained(path, dtype=torch.float32,
                                                      attn_implementation="eager")
    return m.eval()


def run(model, ids, lengths, pixels, spec):
    """spec: list of (kind, args) — returns hidden [L+1][B][T][D], logprobs [B][T]."""
    lm = model.model.language_model
    L = len(lm.layers)
    B, T = ids.shape
    mask = torch.zeros((B, T), dtype=torch.long)
    for b in range(B):
        mask[b, :lengths[b]] = 1
    img = (ids == model.config.image_token_id) & (mask == 1)  # [B][T]
    keep = (~img).float()[..., None]
    skip_attn, skip_ffn, ablate = set(), set(), {}
    for kind, a in spec:
        if kind == "skip-ffn":
            skip_ffn.update(range(a[0], a[1] + 1))
        elif kind == "skip-attn":
            skip_attn.update(range(a[0], a[1] + 1))
        elif kind == "inject":
            skip_ffn.update(range(a[0]))
            skip_attn.update(range(a[0]))
        elif kind == "ablate":
            ablate[a[0]] = a[1]  # None: zeros, else a [D] tensor
    hooks, hidden = [], [None] * (L + 1)

    def attn_hook(mod, args, out):
        return (out[0] * keep,) + tuple(out[1:])

    def mlp_hook(mod, args, out):
        return out * keep

    def pre_hook(l):
        def f(mod, args, kwargs):
            hs = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]
            if l in ablate:
                v = ablate[l]
                repl = torch.zeros_like(hs) if v is None else v.expand_as(hs)
                hs = torch.where(img[..., None], repl, hs)
            hidden[l] = hs.detach().clone()
            if "hidden_states" in kwargs:
                kwargs["hidden_states"] = hs
            else:
                args = (hs,) + tuple(args[1:])
            return args, kwargs
        return f

    for l, layer in enumerate(lm.layers):
        hooks.append(layer.register_forward_pre_hook(pre_hook(l), with_kwargs=True))
        if l in skip_attn:
            hooks.append(layer.self_attn.register_forward_hook(attn_hook))
        if l in skip_ffn:
            hooks.append(layer.mlp.register_forward_hook(mlp_hook))

    def norm_hook(mod, args, out):
        hidden[L] = out.detach().clone()
    hooks.append(lm.norm.register_forward_hook(norm_hook))
    with torch.no_grad():
        out = model(input_ids=ids.long(), attention_mask=mask, pixel_values=pixels)
    for h in hooks:
        h.remove()
    logp = torch.log_softmax(out.logits.float(), dim=-1)
    lp = torch.zeros((B, T))
    for b in range(B):
        for t in range(int(lengths[b]) - 1):
            lp[b, t] = logp[b, t, ids[b, t + 1]]
    return torch.stack(hidden).numpy().astype(np.float32), lp.numpy().astype(np.float32)


def caption_nll(ids, lengths, lp, image_id):
    nll = np.zeros(len(lengths))
    for b in range(len(lengths)):
        row = ids[b, :lengths[b]]
        last_img = int(np.nonzero(row == image_id)[0].max())
        # caption tokens at positions last_img+1 .. len-1, predicted from position t-1
        nll[b] = -float(np.sum(lp[b, last_img:lengths[b] - 1].astype(np.float64)))
    return nll


def main():
    with h5py.File(os.path.join(CKPT, "reference.h5"), "r") as f:
        ids = torch.from_numpy(f["b3/input_ids"][()])
        lengths = f["b3/lengths"][()]
        pixels = torch.from_numpy(f["b3/pixel_values"][()])
    model = load(CKPT)
    image_id = model.config.image_token_id
    os.makedirs(OUT, exist_ok=True)
    base_h, base_lp = run(model, ids, lengths, pixels, [])
    img = (ids.numpy() == image_id)
    for b in range(len(lengths)):
        img[b, lengths[b]:] = False
    mean = base_h[1][img].astype(np.float64).mean(axis=0).astype(np.float32)
    mean.tofile(os.path.join(OUT, "ablate_mean.f32"))
    transplanted = copy.deepcopy(model)
    donor = load(DONOR)
    transplanted.model.language_model.layers[0].load_state_dict(
        donor.model.language_model.layers[0].state_dict())
    cases = [
        ("baseline", "", model, []),
        ("skip_ffn_0_1", "skip-ffn:0-1", model, [("skip-ffn", (0, 1))]),
        ("skip_attn_1_1", "skip-attn:1-1", model, [("skip-attn", (1, 1))]),
        ("skip_attn_0_ffn_1", "skip-attn:0-0;skip-ffn:1-1", model,
         [("skip-attn", (0, 0)), ("skip-ffn", (1, 1))]),
        ("ablate_1_zero", "ablate:1:zero", model, [("ablate", (1, None))]),
        ("ablate_0_zero", "ablate:0:zero", model, [("ablate", (0, None))]),
        ("ablate_1_mean", "ablate:1:mean:{golden}/interventions/ablate_mean.f32", model,
         [("ablate", (1, torch.from_numpy(mean)))]),
        ("inject_1", "inject:1", model, [("inject", (1,))]),
        ("transplant_0_0", "transplant:0-0:{golden}/llava_clip_full_last", transplanted, []),
    ]
    with h5py.File(os.path.join(OUT, "reference.h5"), "w") as f:
        f.attrs["format"] = "strata-golden-interventions"
        f.attrs["format_version"] = 1
        f.attrs["transformers_version"] = transformers.__version__
        f.attrs["torch_version"] = str(torch.__version__)
        f.attrs["checkpoint"] = "llava_clip_llama"
        f.attrs["made_by"] = "tests/golden/make_interventions.py"
        f["input_ids"] = ids.numpy().astype(np.int32)
        f["lengths"] = lengths.astype(np.int32)
        f["pixel_values"] = pixels.numpy().astype(np.float32)
        for name, spec, m, hooks in cases:
            h, lp = run(m, ids, lengths, pixels, hooks) if name != "baseline" else (base_h, base_lp)
            g = f.create_group(name)
            g.attrs["spec"] = spec
            g["llm_hidden"] = h
            g["logprobs"] = lp
            g["nll"] = caption_nll(ids.numpy(), lengths, lp, image_id)
            print(name, "nll", g["nll"][()])


def extract_reference(model):
    import json
    import sys
    import tempfile
    from transformers import AutoImageProcessor, LlavaProcessor, PreTrainedTokenizerFast
    from transformers.image_utils import load_image
    ex = os.path.join(HERE, "..", "extract")
    sys.path.insert(0, ex)
    import extract_common
    golden = os.path.join(ex, "golden")
    sys.path.insert(0, golden)
    from make_golden import PROMPT, TEMPLATE
    inputs_dir = os.path.join(golden, "inputs")
    samples = [json.loads(l) for l in open(os.path.join(inputs_dir, "manifest.jsonl"), encoding="utf-8")]
    cases = [("baseline", "", []), ("skip_ffn_0_1", "skip-ffn:0-1", [("skip-ffn", (0, 1))]),
             ("inject_1", "inject:1", [("inject", (1,))]),
             ("ablate_0_zero", "ablate:0:zero", [("ablate", (0, None))])]
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = extract_common.assemble_model("llava_clip_llama", os.path.join(tmp, "m"))
        tok = PreTrainedTokenizerFast.from_pretrained(model_dir)
        improc = AutoImageProcessor.from_pretrained(model_dir, backend="pil")
        vc = model.config.vision_config
        processor = LlavaProcessor(image_processor=improc, tokenizer=tok, patch_size=vc.patch_size,
                                   vision_feature_select_strategy=model.config.vision_feature_select_strategy,
                                   num_additional_image_tokens=1)
        nll = {name: [] for name, _, _ in cases}
        for s in samples:
            img = load_image(os.path.join(inputs_dir, s["image"]))
            inputs = processor(images=img, text=TEMPLATE.replace("{prompt}", PROMPT), return_tensors="pt")
            prompt_ids = inputs["input_ids"][0].tolist()
            cap = tok(s["caption"], add_special_tokens=False)["input_ids"]
            ids = torch.tensor([prompt_ids + cap], dtype=torch.int32)
            lengths = np.array([len(prompt_ids) + len(cap)])
            for name, _, hooks in cases:
                _, lp = run(model, ids, lengths, inputs["pixel_values"], hooks)
                nll[name].append(-float(np.sum(lp[0, len(prompt_ids) - 1:lengths[0] - 1].astype(np.float64))))
        with h5py.File(os.path.join(OUT, "extract_nll.h5"), "w") as f:
            f.attrs["transformers_version"] = transformers.__version__
            f.attrs["torch_version"] = str(torch.__version__)
            f.attrs["template"] = TEMPLATE
            f.attrs["prompt"] = PROMPT
            f.attrs["fixture"] = "llava_clip_llama"
            f.attrs["made_by"] = "tests/golden/make_interventions.py"
            f["samples/id"] = np.array([s["id"] for s in samples], dtype="S")
            for name, spec, _ in cases:
                f[f"{name}/nll"] = np.array(nll[name])
                f[name].attrs["spec"] = spec
                print("extract", name, nll[name])


if __name__ == "__main__":
    main()
    extract_reference(load(CKPT))
