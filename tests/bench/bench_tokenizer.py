#!/usr/bin/env python3
"""bench_tokenizer.py — tokens/s of strata's tokenizer next to the `tokenizers` library on the
same lines, one thread each (RAYON_NUM_THREADS=1 for the library), medians of RUNS runs.

  bench_tokenizer.py BUILD_DIR [RUNS] [N_LINES]

Corpus: N_LINES caption-length lines (seeded sample of sentences from
/usr/share/common-licenses plus the multilingual lines of make_tokenizers.py, ~15% of lines).
Tokenizers: the committed 2k-vocab fixtures (llama2, qwen2, llama3) and 32k-vocab ones of the
same kinds trained here (on the licenses + Python's standard library sources) — real models'
vocabularies are 32k (Llama-2) to 128k-152k (Llama-3, Qwen2).
The library is timed on encode_batch (its fastest path) and on a Python loop of encode();
strata on a C loop of strata_tokenizer_encode (tests/bench/bench_tokenizer.c). Wall and
process-CPU medians are both printed: on an oversubscribed machine the CPU times compare better.
Set STRATA_BENCH_TOKENIZER_DIR to a folder of already trained 32k tokenizers to skip training."""
import glob
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time

os.environ["RAYON_NUM_THREADS"] = "1"  # before the library starts its thread pool
os.environ["TOKENIZERS_PARALLELISM"] = "false"
import tokenizers  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tokenizer"))
import make_tokenizers as mk  # noqa: E402


def make_corpus(n_lines, seed=0):
    sentences = []
    for path in sorted(glob.glob("/usr/share/common-licenses/*")):
        if os.path.isfile(path):
            text = open(path, encoding="utf-8", errors="replace").read()
            for s in re.split(r"(?<=[.;:])\s+", " ".join(text.split())):
                if 20 <= len(s) <= 200:
                    sentences.append(s)
    multi = [l for l in mk.MULTILINGUAL.splitlines() if l.strip()]
    rng = random.Random(seed)
    return [rng.choice(multi) if rng.random() < 0.15 else rng.choice(sentences)
            for _ in range(n_lines)]


def train_big(out):
    lines = mk.corpus_lines()
    for path in sorted(glob.glob("/usr/lib/python3*/**/*.py", recursive=True))[:1500]:
        try:
            lines += [l for l in open(path, encoding="utf-8").read().splitlines() if l.strip()]
        except (UnicodeDecodeError, OSError):
            pass
    mk.train_llama2(lines, out, vocab_size=32000)
    mk.train_bytelevel(lines, out, "qwen2", mk.QWEN2_RE,
                       ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], True, mk.qwen2_edit,
                       vocab_size=32000)
    mk.train_bytelevel(lines, out, "llama3", mk.LLAMA3_RE,
                       ["<|begin_of_text|>", "<|end_of_text|>"], True, mk.llama3_edit,
                       vocab_size=32000)


def bench_library(path, lines, runs):
    """Median wall and process-CPU seconds of encode_batch, and wall seconds of an encode loop."""
    tok = Tokenizer.from_file(path)
    batch, batch_cpu, loop = [], [], []
    n_tokens = 0
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        encs = tok.encode_batch(lines, add_special_tokens=True)
        batch.append(time.perf_counter() - t0)
        batch_cpu.append(time.process_time() - c0)
        n_tokens = sum(len(e.ids) for e in encs)
        del encs
        t0 = time.perf_counter()
        for l in lines:
            tok.encode(l, add_special_tokens=True)
        loop.append(time.perf_counter() - t0)
    return n_tokens, statistics.median(batch), statistics.median(batch_cpu), statistics.median(loop)


def main():
    build = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    n_lines = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
    exe = os.path.join(build, "tests", "bench_tokenizer")
    lines = make_corpus(n_lines)
    tmp = tempfile.mkdtemp(prefix="bench_tok_")
    corpus = os.path.join(tmp, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    big = os.environ.get("STRATA_BENCH_TOKENIZER_DIR") or os.path.join(tmp, "big")
    t0 = time.time()
    if not os.path.exists(os.path.join(big, "llama3.json")):
        os.makedirs(big, exist_ok=True)
        train_big(big)
    print("trained 32k tokenizers in %.0f s; corpus %d lines, %d bytes; tokenizers %s; %d runs"
          % (time.time() - t0, len(lines), os.path.getsize(corpus), tokenizers.__version__, runs))
    data = os.path.join(HERE, "..", "tokenizer", "data")
    cases = [("llama2 2k", os.path.join(data, "llama2.json")),
             ("qwen2 2k", os.path.join(data, "qwen2.json")),
             ("llama3 2k", os.path.join(data, "llama3.json")),
             ("llama2 32k", os.path.join(big, "llama2.json")),
             ("qwen2 32k", os.path.join(big, "qwen2.json")),
             ("llama3 32k", os.path.join(big, "llama3.json"))]
    print("| tokenizer | tokens | strata tok/s (wall) | tokenizers encode_batch (wall) | "
          "encode loop (wall) | ratio (wall) | strata tok/s (CPU) | encode_batch (CPU) | "
          "ratio (CPU) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, path in cases:
        res = subprocess.run([exe, path, corpus, str(runs)], capture_output=True, text=True,
                             check=True)
        ours = json.loads(res.stdout)
        n_tokens, t_batch, c_batch, t_loop = bench_library(path, lines, runs)
        if n_tokens != ours["tokens"]:
            print("WARNING %s: token counts differ: strata %d, tokenizers %d"
                  % (name, ours["tokens"], n_tokens))
        lib, lib_cpu = n_tokens / t_batch, n_tokens / c_batch
        print("| %s | %d | %.3g | %.3g | %.3g | %.2f | %.3g | %.3g | %.2f |" % (
            name, n_tokens, ours["median_tokens_per_s"], lib, n_tokens / t_loop,
            ours["median_tokens_per_s"] / lib, ours["median_cpu_tokens_per_s"], lib_cpu,
            ours["median_cpu_tokens_per_s"] / lib_cpu), flush=True)


if __name__ == "__main__":
    main()
