#!/usr/bin/env python3
"""make_tokenizers.py — trains the small tokenizer.json fixtures of tests/tokenizer/data/ with the
`tokenizers` library (PyPI), one per kind of tokenizer.json strata must read exactly:

  llama2        SentencePiece-style BPE, byte_fallback, <0xXX> tokens, normalizer
                Prepend("▁") + Replace(" ", "▁"), TemplateProcessing "<s> $A" (HF Llama-2, legacy)
  llama2_meta   same vocabulary, Metaspace pre-tokenizer (prepend_scheme "first"), no normalizer
  qwen2         byte-level BPE, NFC, Split(Qwen2 regex) + ByteLevel, merges as [a, b] lists
  llama3        byte-level BPE, Split(Llama-3 regex) + ByteLevel, ignore_merges, Sequence post
                processor (ByteLevel + TemplateProcessing "<|begin_of_text|> $A")
  gpt2          byte-level BPE, ByteLevel(use_regex) pre-tokenizer, "a b" merges
  clip          CLIP-style: NFC + Replace(\\s+, " ") + Lowercase, Split(invert, Removed) +
                ByteLevel, end_of_word_suffix "</w>", RobertaProcessing
  misc          NFKC + Lowercase + Strip, Digits + Metaspace(split), unk without byte fallback,
                continuing_subword_prefix "##", an lstrip/rstrip added token, a normalized one
  wordpiece     a WordPiece model (strata must refuse it, naming the type)

Usage: make_tokenizers.py OUT_DIR   (run with /work/venv-ci/bin/python; writes VERSIONS.txt).
The training text is /usr/share/common-licenses/* plus the multilingual lines below. The files
are committed; the tests never retrain. Vocabularies are small (~1000) to keep fixtures small."""
import glob
import json
import os
import sys

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors, trainers

GPT2_RE = (r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+")
LLAMA3_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+"
             r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
            r"|\s*[\r\n]+|\s+(?!\S)|\s+")
CLIP_RE = (r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|"
           r"[^\s\p{L}\p{N}]+")

MULTILINGUAL = """A photo of a cat sitting on a wooden bench next to a red bicycle.
Two people are walking along the beach at sunset, holding hands.
Un chat noir est assis sur le rebord de la fenêtre, à côté d'une plante.
Ein Hund läuft über die Straße; die Kinder spielen Fußball im Park.
Кошка спит на диване рядом с окном, а собака лежит на полу.
一只猫坐在窗台上看着外面的雨。两个孩子在公园里放风筝。
猫が窓辺に座って外の雨を見ています。子供たちは公園で凧を揚げています。
고양이가 창가에 앉아 밖의 비를 바라보고 있습니다.
قطة تجلس على حافة النافذة وتنظر إلى المطر.
The year 2024 had 366 days; pi is 3.14159 and e is 2.71828.
I'm sure they're here, we've seen it, you'll see, he'd know, it's fine.
def main(argv):\n    return 0  # comment\n\tindented with a tab
Emoji: 😀 😃 🐱 🐶 👍🏽 👨‍👩‍👧 🇫🇷 ❤️ — and café, naïve, résumé, Ångström.
"""


def corpus_lines():
    lines = []
    for path in sorted(glob.glob("/usr/share/common-licenses/*")):
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                lines += [l.rstrip("\n") for l in f if l.strip()]
    lines += MULTILINGUAL.splitlines() * 20
    return lines


def added(content, special=True, normalized=False, lstrip=False, rstrip=False):
    return AddedToken(content, special=special, normalized=normalized, lstrip=lstrip,
                      rstrip=rstrip, single_word=False)


def save(tok, path, merges_as_lists, edit=None):
    """Save tok, rewrite the merges form and apply edit(dict); check the library loads it."""
    d = json.loads(tok.to_str())
    merges = d["model"]["merges"]
    if merges and isinstance(merges[0], list) and not merges_as_lists:
        d["model"]["merges"] = [" ".join(m) for m in merges]
    if merges and isinstance(merges[0], str) and merges_as_lists:
        d["model"]["merges"] = [m.split(" ") for m in merges]
    if edit:
        edit(d)
    text = json.dumps(d, ensure_ascii=False, indent=None, separators=(",", ":"))
    Tokenizer.from_str(text)  # the reference must accept what we commit
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def add_byte_tokens(d, after):
    """Insert <0x00>..<0xFF> after the first `after` ids and renumber (SentencePiece layout)."""
    vocab = d["model"]["vocab"]
    items = sorted(vocab.items(), key=lambda kv: kv[1])
    head, tail = items[:after], items[after:]
    names = [k for k, _ in head] + ["<0x%02X>" % b for b in range(256)] + [k for k, _ in tail]
    d["model"]["vocab"] = {k: i for i, k in enumerate(names)}
    for t in d["added_tokens"]:
        t["id"] = d["model"]["vocab"][t["content"]]


def train_llama2(lines, out, vocab_size=2000):
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"],
                                  limit_alphabet=120, show_progress=False)
    tok.train_from_iterator(lines, trainer)

    def legacy(d):
        add_byte_tokens(d, 3)
        n = len(d["model"]["vocab"])
        d["model"]["vocab"]["<image>"] = n
        d["added_tokens"].append({"id": n, "content": "<image>", "single_word": False,
                                  "lstrip": False, "rstrip": False, "normalized": False,
                                  "special": True})
        d["normalizer"] = {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}
        d["pre_tokenizer"] = None
        d["post_processor"] = {"type": "TemplateProcessing",
                               "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                          {"Sequence": {"id": "A", "type_id": 0}}],
                               "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                        {"Sequence": {"id": "A", "type_id": 0}},
                                        {"SpecialToken": {"id": "<s>", "type_id": 1}},
                                        {"Sequence": {"id": "B", "type_id": 1}}],
                               "special_tokens": {"<s>": {"id": "<s>", "ids": [1],
                                                          "tokens": ["<s>"]}}}
        d["decoder"] = {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}

    save(tok, os.path.join(out, "llama2.json"), False, legacy)

    def metaspace(d):
        legacy(d)
        d["normalizer"] = None
        d["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first",
                              "split": False}
        d["decoder"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first",
                        "split": False}

    save(tok, os.path.join(out, "llama2_meta.json"), True, metaspace)


def train_bytelevel(lines, out, name, regex, specials, merges_as_lists, edit, vocab_size=2000):
    tok = Tokenizer(models.BPE())
    if regex is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False,
                                     use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(lines, trainer)
    tok.add_special_tokens([added("<image>")])
    save(tok, os.path.join(out, name + ".json"), merges_as_lists, edit)


def qwen2_edit(d):
    d["normalizer"] = {"type": "NFC"}
    d["post_processor"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                           "use_regex": False}


def llama3_edit(d):
    d["model"]["ignore_merges"] = True
    bos = d["model"]["vocab"]["<|begin_of_text|>"]
    d["post_processor"] = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
         "use_regex": True},
        {"type": "TemplateProcessing",
         "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                    {"Sequence": {"id": "A", "type_id": 0}}],
         "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                  {"Sequence": {"id": "A", "type_id": 0}},
                  {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}},
                  {"Sequence": {"id": "B", "type_id": 1}}],
         "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [bos],
                                                  "tokens": ["<|begin_of_text|>"]}}}]}


def train_clip(lines, out):
    tok = Tokenizer(models.BPE(end_of_word_suffix="</w>", unk_token="<|endoftext|>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(),
                                           normalizers.Replace(Regex(r"\s+"), " "),
                                           normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(CLIP_RE), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1000, end_of_word_suffix="</w>",
                                  special_tokens=["<|startoftext|>", "<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(lines, trainer)
    tok.post_processor = processors.RobertaProcessing(
        ("<|endoftext|>", tok.token_to_id("<|endoftext|>")),
        ("<|startoftext|>", tok.token_to_id("<|startoftext|>")), trim_offsets=False,
        add_prefix_space=False)
    save(tok, os.path.join(out, "clip.json"), False)


def train_misc(lines, out):
    tok = Tokenizer(models.BPE(unk_token="[UNK]", fuse_unk=False, continuing_subword_prefix="##"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase(),
                                           normalizers.Strip(left=True, right=True)])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)])
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=["[UNK]", "[CLS]", "[SEP]"],
                                  continuing_subword_prefix="##", limit_alphabet=60,
                                  show_progress=False)
    tok.train_from_iterator(lines, trainer)
    tok.add_special_tokens([added("[MASK]", lstrip=True, rstrip=True)])
    tok.add_tokens([AddedToken("hello world", normalized=True, special=False)])
    tok.post_processor = processors.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")),
                                                   ("[CLS]", tok.token_to_id("[CLS]")))
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    save(tok, os.path.join(out, "misc.json"), True)


def train_wordpiece(lines, out):
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordPieceTrainer(vocab_size=200, special_tokens=["[UNK]"],
                                        show_progress=False)
    tok.train_from_iterator(lines[:200], trainer)
    tok.save(os.path.join(out, "wordpiece.json"))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    lines = corpus_lines()
    train_llama2(lines, out)
    train_bytelevel(lines, out, "qwen2", QWEN2_RE, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                    True, qwen2_edit)
    train_bytelevel(lines, out, "llama3", LLAMA3_RE,
                    ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                     "<|end_header_id|>", "<|eot_id|>"], True, llama3_edit)
    train_bytelevel(lines, out, "gpt2", None, ["<|endoftext|>"], False, None)
    train_clip(lines, out)
    train_misc(lines, out)
    train_wordpiece(lines, out)
    with open(os.path.join(out, "VERSIONS.txt"), "w") as f:
        f.write("made by tests/tokenizer/make_tokenizers.py with tokenizers %s\n"
                % tokenizers.__version__)


if __name__ == "__main__":
    main()
