#!/usr/bin/env python3
"""test_vs_tokenizers.py — strata's tokenizer against the `tokenizers` library (PyPI), live.

For every tokenizer.json of tests/tokenizer/data/ (trained by make_tokenizers.py) and for
variants built here by editing them (other pre-tokenizers, normalizers, split behaviours, added
token flags), encodes a corpus of hard strings (CJK, emoji, combining marks, whitespace runs,
digits, special tokens inside text, NUL and control characters, random mixtures) with both and
requires identical ids, with and without special tokens. Decoded text must match too for the
kinds whose decoder strata implements (except texts with NUL: decode returns a C string). Invalid UTF-8 (which the library cannot receive: Python
str is always valid) must be refused with an error naming the byte offset where Python's own
UTF-8 decoder fails. A WordPiece tokenizer.json must be refused, naming the model type.

usage: test_vs_tokenizers.py TOK_DUMP   (the tests/tokenizer/tok_dump helper)"""
import copy
import json
import os
import random
import subprocess
import sys

import tokenizers
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
TMP = os.environ.get("STRATA_TEST_TMP", "/tmp")

HARD = [
    "", " ", "  ", "a", "Hello world", "Hello  world", " leading space", "trailing space ",
    "A photo of a cat sitting on a wooden bench next to a red bicycle.",
    "一只猫坐在窗台上看着外面的雨。", "猫が窓辺に座って外の雨を見ています。", "고양이가 창가에 앉아",
    "قطة تجلس على حافة النافذة", "नमस्ते दुनिया", "สวัสดีครับ", "Кошка спит на диване",
    "😀", "😀😃🐱", "👍🏽 👨‍👩‍👧 🇫🇷 ❤️", "emoji🐶inside", "🏳️‍🌈",
    "e\u0301", "café", "cafe\u0301", "a\u0308\u0304\u0323", "Ångström \u212b \u00c5 A\u030a",
    "ﬁ ﬂ ﬀ", "① ② ⑳", "ＡＢＣ １２３", "\u1100\u1161\u11a8", "각", "ǅ ǆ Ǆ", "ß ẞ", "İstanbul",
    "ΣΑΣ σας", "\u0130\u0049\u0131", "ﾊﾝｶｸ", "㍿", "x\u00b2 + y\u00b3",
    "\t", "\t\ttabs", "\n", "\n\n\n", "a\nb", " \n ", "\r\n", "a\r\nb\r\n", "line1\n\nline2",
    "a    b", "a   \n  b", "   \n\n   x", "\u00a0", "a\u00a0b", "\u3000全角", "a\u2009b",
    "a\u0085b", "a\u200bb", "a\u180eb", "\ufeffbom", "a\u2028b\u2029c", "\u000b\u000c",
    "0", "1234567890", "3.14159", "1,000,000", "2024-11-22", "١٢٣٤", "²³", "Ⅻ ⅻ", "٣.١٤",
    "v1.2.3-rc4", "0x1F600", "00000000001",
    "I'm sure they're here, we've seen it, you'll see, he'd know, it's fine.",
    "DON'T IT'S WE'LL", "'s 'S 'ſ", "o'clock", "rock'n'roll", "''''",
    "<image>", "a<image>b", "<image><image>", " <image> ", "USER: <image>\nDescribe the image. ASSISTANT:",
    "<s>hello</s>", "<s> <s>", "<unk>", "</s>x", "<|im_start|>user\nhi<|im_end|>\n",
    "<|begin_of_text|>x<|eot_id|>", "<|endoftext|>", "<|startoftext|>a photo<|endoftext|>",
    "[MASK]", "a [MASK] b", "a[MASK]b", "  [MASK]  ", "[CLS] x [SEP]", "[UNK]", "<ima", "<<image>>",
    "<image", "image>", "a<extra>b <extra>", "hello world", "HELLO WORLD", "say hello world!", "Hello World<image>",
    "\x00", "a\x00b", "\x01\x02\x7f", "\x1b[31mred\x1b[0m",
    "def main(argv):\n    return 0  # comment\n\tindented",
    "https://example.com/path?q=1&x=2#frag", "user@example.org", "C:\\Windows\\System32",
    "$$$ %%% ^^^ &&& *** ((( )))", "...", "!!!???", "«quoted» „german“ “curly”",
    "—–-", "→ ⇒ ∀x∈ℝ", "€100 £50 ¥1000", "½ ¼ ¾",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "ab" * 200, "the " * 50, "x" * 1000, " " * 300, "\n" * 50, "猫" * 100, "😀" * 60,
    "Supercalifragilisticexpialidocious antidisestablishmentarianism",
    "GNU GENERAL PUBLIC LICENSE Version 3, 29 June 2007",
]

ALPHABET = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") +
            list(" \t\n\r.,;:'\"!?-_()[]{}<>/\\|@#$%^&*+=~`") +
            ["  ", "\n\n", "\u00a0", "\u3000", "\u2009", "\u0085", "é", "e\u0301", "ü", "ß", "İ",
             "Σ", "猫", "が", "고", "ق", "न", "्", "😀", "👍🏽", "\u200d", "\ufe0f", "①", "ﬁ", "²",
             "١", "<image>", "<s>", "</s>", "<|im_start|>", "<|endoftext|>", "[MASK]", "'s", "'LL",
             "the", "The", " of", "ing", "tion", "hello world", "\x00", "▁", "Ġ", "##", "</w>"])

INVALID_UTF8 = [b"\xff", b"abc\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"ok \xe2\x82", b"\xf4\x90\x80\x80",
                b"caf\xe9", b"\x80", b"a<image>\xfe"]


def corpus():
    rng = random.Random(1234)
    texts = list(HARD)
    for _ in range(400):
        texts.append("".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 40))))
    return texts


def variants():
    """(name, tokenizer.json dict, compare_decode) for the committed files and edited ones."""
    out = []
    load = lambda n: json.load(open(os.path.join(DATA, n + ".json"), encoding="utf-8"))
    for name in ["llama2", "llama2_meta", "qwen2", "llama3", "gpt2", "clip", "misc"]:
        out.append((name, load(name), name != "misc"))
    misc = load("misc")
    pre_variants = {
        "whitespacesplit": {"type": "WhitespaceSplit"},
        "punct_digits": {"type": "Sequence", "pretokenizers": [
            {"type": "Punctuation", "behavior": "Isolated"},
            {"type": "Digits", "individual_digits": False},
            {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": True}]},
        "meta_first_nosplit": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first",
                               "split": False},
    }
    for behavior in ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"]:
        for invert in [False, True]:
            pre_variants["split_%s_%d" % (behavior, invert)] = {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": r"\s+|[,.!?]"}, "behavior": behavior,
                 "invert": invert},
                {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": False}]}
    pre_variants["split_string"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithNext", "invert": False},
        {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}]}
    for name, pre in pre_variants.items():
        d = copy.deepcopy(misc)
        d["pre_tokenizer"] = pre
        out.append(("misc_" + name, d, False))
    for norm in ["NFD", "NFKD", "NFC"]:
        d = copy.deepcopy(misc)
        d["normalizer"] = {"type": "Sequence", "normalizers": [
            {"type": norm}, {"type": "Strip", "strip_left": False, "strip_right": True},
            {"type": "Replace", "pattern": {"Regex": "[0-9]+"}, "content": "#"}]}
        out.append(("misc_" + norm, d, False))
    d = copy.deepcopy(misc)
    for t in d["added_tokens"]:
        if t["content"] == "[MASK]":
            t["single_word"] = True
    out.append(("misc_single_word", d, False))
    d = load("gpt2")
    d["pre_tokenizer"]["add_prefix_space"] = True
    out.append(("gpt2_prefix_space", d, True))
    d = load("llama2")
    d["model"]["byte_fallback"] = False
    d["model"]["fuse_unk"] = False
    out.append(("llama2_unk_nofuse", d, False))
    d = load("llama2")
    d["model"]["byte_fallback"] = False
    out.append(("llama2_unk_fuse", d, False))
    d = load("llama2")  # an added token whose "id" is a vocabulary id: the library renumbers it
    d["added_tokens"].append({"id": 700, "content": "<extra>", "single_word": False,
                              "lstrip": False, "rstrip": False, "normalized": False,
                              "special": False})
    out.append(("llama2_added_override", d, True))
    return out


def run_dump(tok_dump, path, texts_bytes):
    inp = os.path.join(TMP, "tok_input.txt")
    with open(inp, "w") as f:
        for t in texts_bytes:
            f.write(t.hex() + "\n")
    res = subprocess.run([tok_dump, path, inp], capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit("tok_dump failed (%d): %s" % (res.returncode, res.stderr))
    return res.stdout.splitlines()


def check_cli():
    """`strata tokenize --json [--template T]` against the library on the expanded text."""
    strata = os.environ.get("STRATA_BIN")
    if not strata:
        print("STRATA_BIN not set: CLI not checked")
        return 1
    bad = 0
    cases = [("llama2", "llava-1.5", "What is shown in this image?",
              "USER: <image>\nWhat is shown in this image? ASSISTANT:", True),
             ("qwen2", "<|im_start|>user\\n<image>{prompt}<|im_end|>", "Describe 猫 😀",
              "<|im_start|>user\n<image>Describe 猫 😀<|im_end|>", True),
             ("llama3", None, "A photo of 2 cats.", "A photo of 2 cats.", True),
             ("llama3", "caption", "no special", "no special", False)]
    for kind, tmpl, text, expanded, special in cases:
        path = os.path.join(DATA, kind + ".json")
        cmd = [strata, "tokenize", "--json", "--model", path]
        if tmpl:
            cmd += ["--template", tmpl]
        if not special:
            cmd += ["--no-special"]
        res = subprocess.run(cmd + [text], capture_output=True, text=True)
        ref = Tokenizer.from_file(path).encode(expanded, add_special_tokens=special)
        try:
            got = json.loads(res.stdout)
        except ValueError:
            got = None
        if res.returncode != 0 or got != {"ids": ref.ids, "pieces": ref.tokens}:
            bad += 1
            print("CLI MISMATCH %s: %s\n  want %s\n  got %s %s" % (kind, cmd, ref.ids, res.stdout,
                                                                   res.stderr))
    # TEXT "-": standard input as it is (NUL bytes included); invalid UTF-8 refused
    qwen = os.path.join(DATA, "qwen2.json")
    raw = "café\n\x00x <image>".encode("utf-8")
    res = subprocess.run([strata, "tokenize", "--json", "--model", qwen, "-"], input=raw,
                         capture_output=True)
    ref = Tokenizer.from_file(qwen).encode(raw.decode("utf-8"))
    if res.returncode != 0 or json.loads(res.stdout) != {"ids": ref.ids, "pieces": ref.tokens}:
        bad += 1
        print("CLI stdin mismatch: want %s got %r %r" % (ref.ids, res.stdout, res.stderr))
    res = subprocess.run([strata, "tokenize", "--model", qwen, "-"], input=b"abc\xff",
                         capture_output=True)
    if res.returncode == 0 or b"invalid UTF-8 at byte 3" not in res.stderr:
        bad += 1
        print("CLI: invalid UTF-8 on stdin not refused: %r" % res.stderr)
    res = subprocess.run([strata, "tokenize", "--model", path, "--template", "{nope}", "x"],
                         capture_output=True, text=True)
    if res.returncode == 0 or "unknown placeholder {nope}" not in res.stderr:
        bad += 1
        print("CLI: bad template not refused: %r" % res.stderr)
    print("strata tokenize --json: %d cases, %d mismatches" % (len(cases), bad))
    return bad


def main():
    tok_dump = sys.argv[1]
    texts = corpus()
    failures = 0
    print("tokenizers %s; %d texts" % (tokenizers.__version__, len(texts)))
    for name, d, compare_decode in variants():
        path = os.path.join(TMP, name + ".json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(d, f, ensure_ascii=False)
        ref = Tokenizer.from_file(path)
        lines = run_dump(tok_dump, path, [t.encode("utf-8") for t in texts])
        bad = 0
        for text, line in zip(texts, lines):
            want_a = ref.encode(text, add_special_tokens=True).ids
            want_b = ref.encode(text, add_special_tokens=False).ids
            if line.startswith("ERROR") or line.startswith("LOADERROR"):
                got_a = got_b = None
                dec = None
            else:
                a, b, h = line.split("|")
                got_a = [int(x) for x in a.split()]
                got_b = [int(x) for x in b.split()]
                dec = bytes.fromhex(h).decode("utf-8")
            if got_a != want_a or got_b != want_b:
                bad += 1
                if bad <= 5:
                    print("MISMATCH %s %r\n  want %s\n  got  %s\n  want tokens %s\n  got  %s" % (
                        name, text, want_b, got_b if got_b is not None else line,
                        ref.encode(text, add_special_tokens=False).tokens,
                        [ref.id_to_token(i) for i in got_b] if got_b else None))
            elif compare_decode and "\x00" not in text and dec != ref.decode(want_b, skip_special_tokens=False):
                bad += 1
                if bad <= 5:
                    print("DECODE MISMATCH %s %r: want %r got %r" % (
                        name, text, ref.decode(want_b, skip_special_tokens=False), dec))
        if len(lines) != len(texts):
            bad += 1
            print("%s: %d results for %d texts" % (name, len(lines), len(texts)))
        print("%-28s %s (%d mismatches)" % (name, "ok" if bad == 0 else "FAIL", bad))
        failures += bad

    # invalid UTF-8: refused, with the offset where Python's decoder fails
    lines = run_dump(tok_dump, os.path.join(DATA, "qwen2.json"), INVALID_UTF8)
    for raw, line in zip(INVALID_UTF8, lines):
        try:
            raw.decode("utf-8")
            want = None
        except UnicodeDecodeError as e:
            want = e.start
        if not (line.startswith("ERROR invalid UTF-8 at byte %d " % want)):
            failures += 1
            print("INVALID UTF-8 %r: want an error at byte %s, got %r" % (raw, want, line))
    print("invalid UTF-8 inputs: %d checked" % len(INVALID_UTF8))

    # an unsupported model type is refused, naming it; the library itself reads it
    path = os.path.join(DATA, "wordpiece.json")
    Tokenizer.from_file(path)
    line = run_dump(tok_dump, path, [b"x"])[0]
    if not (line.startswith("LOADERROR") and "WordPiece" in line and "model.type" in line
            and "wordpiece.json" in line):
        failures += 1
        print("WordPiece not refused as expected: %r" % line)

    failures += check_cli()
    print("PASS" if failures == 0 else "FAIL (%d)" % failures)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
