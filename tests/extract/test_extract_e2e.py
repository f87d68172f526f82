"""test_extract_e2e.py — `strata extract` end to end on a tiny random LLaVA checkpoint
(`strata mkmodel`) and real image files (PIL), read back with h5py.

  ranks  the archive does not depend on ranks or batch: np 1/2/3, batch 1/3/4, with and without
         prefetch, more ranks than samples, equal within 1e-5 relative per row; a layer subset
         (--layers ::2 --vision-layers -1) equals those layers of the full run; ragged pools (all, sample:K) too; f16 on
         disk equals numpy's float16 of the f32 archive; a mean equals numpy's mean of the `all`
         rows; provenance attributes (manifest sha256, n_ranks, complete)
  bad    planted bad samples (missing, truncated, not an image, empty caption, too long) get
         status 2, a readable error and zero rows; the others status 1; the summary counts them;
         exit 0, or 1 with --fail-on-bad (archive still written)
  kill   SIGKILL of an mpirun -np 2 run mid-way, then the same command: it resumes and equals a
         clean run
  term   SIGTERM to a single-process run, SIGTERM to one rank of an mpirun job, SIGUSR1 to
         mpirun: exit 75 after flushing; the rerun (same ranks, or 3 instead of 2) resumes
         without redoing finished samples and equals a clean run
  cli    bad command lines and inputs stop before any work with a message naming the problem
         (printed once, by rank 0, under mpirun) and exit 2 (usage) or 1 (input); a batch over
         --memory-budget is refused naming the largest that fits, which then runs
Run by ctest: test_extract_e2e.py MODE"""
import hashlib
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import extract_common as ec  # noqa: E402
from extract_common import check  # noqa: E402

mode = sys.argv[1]
tmp = ec.TMP
model = ec.make_model(os.path.join(tmp, "model"))
ALL = "image,caption,image_last,caption_last,vision,connector"


def extract(np_, out, manifest, *extra, expect=0, env=None):
    return ec.run(np_, ["extract", "--model", model, "--data", manifest, "--out", out,
                        "--overwrite", "--progress", "none", *extra], expect=expect, env=env)


def mode_ranks():
    manifest, ids = ec.make_dataset(os.path.join(tmp, "data"), 14)
    ref = os.path.join(tmp, "np1_b4.h5")
    extract(1, ref, manifest, "--streams", ALL, "--batch", "4")
    for np_, batch, extra in [(2, 4, []), (3, 1, []), (2, 3, ["--no-prefetch"]), (0, 5, [])]:
        out = os.path.join(tmp, f"np{np_}_b{batch}.h5")
        extract(np_, out, manifest, "--streams", ALL, "--batch", str(batch), *extra)
        w = ec.compare(out, ref, 1e-5, f"np {np_} batch {batch} vs np 1 batch 4")
        print(f"np {np_} batch {batch}: worst row relative error {w:.3g}")
    # fewer samples than ranks: rank 2 has no work in any round and writes empty selections
    two = os.path.join(tmp, "two.jsonl")
    with open(manifest) as f, open(two, "w") as g:
        g.writelines(f.readlines()[:2])
    extract(1, os.path.join(tmp, "two1.h5"), two, "--streams", ALL)
    extract(3, os.path.join(tmp, "two3.h5"), two, "--streams", ALL, "--batch", "1")
    ec.compare(os.path.join(tmp, "two3.h5"), os.path.join(tmp, "two1.h5"), 1e-5,
               "2 samples on 3 ranks vs 1 rank")
    streams, got_ids, status, errors, attrs = ec.read_archive(ref)
    check(got_ids == ids, "ids in manifest order")
    check(attrs.get("complete") == 1 and attrs.get("n_ranks") == 1, f"root attrs {attrs}")
    with h5py.File(ref, "r") as f:
        sha = hashlib.sha256(open(manifest, "rb").read()).hexdigest()
        got = f["dataset"].attrs["manifest_sha256"]
        check((got.decode() if isinstance(got, bytes) else got) == sha, "manifest sha256")
        check(f["activations/vision"].attrs["site"] in (b"vision", "vision"), "vision site attr")
    # a layer subset equals those layers of the full run (and says which it kept)
    sub = os.path.join(tmp, "subset.h5")
    extract(2, sub, manifest, "--streams", ALL, "--batch", "4", "--layers", "::2",
            "--vision-layers", "-1")
    full, _, _, _, _ = ec.read_archive(ref)
    part, _, _, _, _ = ec.read_archive(sub)
    for name, (d, _, at) in part.items():
        kept = list(at["layers"])
        n_full = full[name][0].shape[0]
        want = {"vision": [n_full - 1], "connector": [0]}.get(name, list(range(0, n_full, 2)))
        check(kept == want, f"{name}: kept layers {kept}, want {want}")
        if kept == want:
            x, y = d, full[name][0][want]
            rel = np.linalg.norm(x - y) / max(np.linalg.norm(y), 1e-30)
            check(rel < 1e-5, f"{name}: layer subset differs from the full run ({rel:.3g})")
    # ragged pools at 1 and 3 ranks
    rag = "image:all,caption:sample:3,vision:cls,connector:all"
    r1, r3 = os.path.join(tmp, "ragged1.h5"), os.path.join(tmp, "ragged3.h5")
    extract(1, r1, manifest, "--streams", rag, "--batch", "2")
    extract(3, r3, manifest, "--streams", rag, "--batch", "4")
    ec.compare(r3, r1, 1e-5, "ragged np 3 vs np 1")
    rs, _, _, _, _ = ec.read_archive(r1)
    img_all, ro, _ = rs["image:all".split(":")[0]]
    counts = np.diff(ro)
    check(len(set(counts.tolist())) == 1 and counts[0] > 1, f"image:all rows per sample {counts}")
    cap, cro, _ = rs["caption"]
    check(np.all(np.diff(cro) <= 3) and np.diff(cro).max() == 3, f"caption:sample:3 rows {np.diff(cro)}")
    # mean (pooled run) == numpy mean of the `all` rows, for the ok samples
    mean_img = streams["image"][0]
    for i in range(len(ids)):
        if status[i] != 1:
            continue
        want = img_all[:, ro[i]:ro[i + 1]].astype(np.float64).mean(1)
        got = mean_img[:, i]
        rel = np.linalg.norm(got - want, axis=1) / np.linalg.norm(want, axis=1)
        check(rel.max() < 1e-5, f"sample {i}: image mean vs mean of image:all rows {rel.max():.3g}")
    # f16 on disk == float16 of the f32 values (same ranks and batch: the same computation)
    f16 = os.path.join(tmp, "np2_b4_f16.h5")
    extract(2, f16, manifest, "--streams", ALL, "--batch", "4", "--dtype", "f16")
    with h5py.File(f16, "r") as a, h5py.File(os.path.join(tmp, "np2_b4.h5"), "r") as b:
        for name in b["activations"]:
            x, y = a[f"activations/{name}"], b[f"activations/{name}"][()]
            check(x.dtype == np.float16, f"{name} stored as {x.dtype}")
            check(np.array_equal(x[()], y.astype(np.float16)), f"{name}: f16 != float16(f32)")


def mode_bad():
    manifest, ids = ec.make_dataset(os.path.join(tmp, "data"), 8)
    out = os.path.join(tmp, "bad.h5")
    p = extract(2, out, manifest, "--streams", ALL, "--batch", "3")
    streams, got_ids, status, errors, _ = ec.read_archive(out)
    for i, sid in enumerate(got_ids):
        if sid in ec.BAD:
            check(status[i] == 2, f"{sid}: status {status[i]}, want 2")
            check(ec.BAD[sid] in errors[i], f"{sid}: error {errors[i]!r} should mention "
                                            f"{ec.BAD[sid]!r}")
            for name, (d, ro, _) in streams.items():
                check(not np.any(d[:, ec.rows_of(ro, i)]), f"{sid}: {name} rows not zero")
        else:
            check(status[i] == 1 and errors[i] == "", f"{sid}: status {status[i]} {errors[i]!r}")
            for name, (d, ro, _) in streams.items():
                check(np.all(np.isfinite(d[:, ec.rows_of(ro, i)])) and
                      np.any(d[:, ec.rows_of(ro, i)]), f"{sid}: {name} rows empty or not finite")
    n_bad = len(ec.BAD)
    check(f"{n_bad} failed" in p.stderr, f"summary should count {n_bad} failed: {p.stderr[-800:]}")
    for sid in ec.BAD:  # each failure logged once
        check(p.stderr.count(f"({sid})") == 1, f"{sid} logged {p.stderr.count(f'({sid})')} times")
    out2 = os.path.join(tmp, "bad_strict.h5")
    extract(1, out2, manifest, "--fail-on-bad", expect=1)
    check(os.path.exists(out2), "--fail-on-bad still completes the archive")


def start(np_, out, manifest, *extra):
    env = dict(os.environ, STRATA_PROGRESS_INTERVAL="0.001")
    return subprocess.Popen(ec.mpi_cmd(np_, ["extract", "--model", model, "--data", manifest,
                                             "--out", out, "--progress", "lines", *extra]),
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
                            start_new_session=True)


def status_of(path):
    with h5py.File(path, "r") as f:
        return f["samples/status"][()]


def mode_kill():
    manifest, _ = ec.make_dataset(os.path.join(tmp, "data"), 60, bad=False)
    clean = os.path.join(tmp, "clean.h5")
    extract(2, clean, manifest, "--streams", ALL, "--batch", "1")
    out = os.path.join(tmp, "killed.h5")
    p = start(2, out, manifest, "--streams", ALL, "--batch", "1", "--overwrite")
    ec.wait_for_lines(p, "samples/s", 2)
    # freeze the ranks where they are (mid-round or between rounds), then kill everything at
    # once, as a node failure or Slurm's final SIGKILL would
    ranks = ec.rank_pids(p, 2)
    ec.signal_all(ranks, signal.SIGSTOP)
    ec.signal_all(ranks + [p.pid], signal.SIGKILL)
    p.wait()
    check(os.path.exists(out + ".partial") and not os.path.exists(out),
          "after SIGKILL: the .partial stays, no final archive")
    st = status_of(out + ".partial")
    done = int((st != 0).sum())
    check(0 < done < len(st), f"killed mid-way: {done} of {len(st)} samples done")
    p = ec.run(2, ["extract", "--model", model, "--data", manifest, "--out", out,
                   "--progress", "none", "--streams", ALL, "--batch", "1"])  # no --overwrite
    check("resum" in p.stderr, "the rerun says it resumes")
    ec.compare(out, clean, 1e-5, "resumed after SIGKILL vs clean")


def mode_term():
    manifest, _ = ec.make_dataset(os.path.join(tmp, "data"), 40, bad=False)
    clean = os.path.join(tmp, "clean.h5")
    extract(1, clean, manifest, "--streams", ALL, "--batch", "2")
    cases = [("single process, SIGTERM", 0, "self", signal.SIGTERM, 0),
             ("np 2, SIGTERM to rank 1 only", 2, "rank", signal.SIGTERM, 2),
             ("np 2, SIGUSR1 to mpirun", 2, "launcher", signal.SIGUSR1, 2),
             ("np 2, SIGTERM, resumed by 3 ranks", 2, "rank", signal.SIGTERM, 3)]
    for label, np_, target, sig, np_resume in cases:
        out = os.path.join(tmp, f"term_{np_}_{target}_{np_resume}.h5")
        p = start(np_, out, manifest, "--streams", ALL, "--batch", "2", "--overwrite")
        ec.wait_for_lines(p, "samples/s", 2)
        # freeze the ranks so that the signal lands mid-run whatever the machine's speed
        ranks = ec.rank_pids(p, np_)
        check(len(ranks) == max(np_, 1), f"{label}: ranks {ranks}")
        ec.signal_all(ranks, signal.SIGSTOP)
        os.kill(ranks[-1] if target == "rank" else p.pid, sig)
        time.sleep(0.5)  # mpirun forwards SIGUSR1 to the (stopped) ranks: pending until SIGCONT
        ec.signal_all(ranks, signal.SIGCONT)
        rest = p.stderr.read()
        rc = p.wait()
        check(rc == 75, f"{label}: exit {rc}, want 75\n{rest[-1500:]}")
        check("resume" in rest, f"{label}: the log says how to resume")
        if not check(os.path.exists(out + ".partial"), f"{label}: .partial kept"):
            continue
        st = status_of(out + ".partial")
        done = int((st != 0).sum())
        check(0 < done < len(st), f"{label}: {done} of {len(st)} done when stopped")
        p2 = ec.run(np_resume, ["extract", "--model", model, "--data", manifest, "--out", out,
                          "--progress", "none", "--streams", ALL, "--batch", "2"])
        check(f"{done} of {len(st)}" in p2.stderr, f"{label}: the rerun resumes after the "
              f"{done} finished samples: {p2.stderr[-600:]}")
        ec.compare(out, clean, 1e-5, f"{label}: resumed vs clean")


def mode_cli():
    manifest, _ = ec.make_dataset(os.path.join(tmp, "data"), 4, bad=False)
    out = os.path.join(tmp, "cli.h5")
    p = ec.run(0, ["extract", "--help"])
    check("75" in p.stdout and "--streams" in p.stdout, "--help documents streams and exit 75")
    base = ["extract", "--model", model, "--data", manifest, "--out", out]
    bad_manifest = os.path.join(tmp, "bad.jsonl")
    with open(bad_manifest, "w") as f:
        f.write('{"id": "a", "image": "x.jpg", "caption": "fine"}\n{"id": "b", "image": \n')
    text_model = ec.make_model(os.path.join(tmp, "llama"), arch="llama")
    cases = [
        (["extract", "--model", model, "--out", out], 2, "--data is required"),
        (base + ["--batch", "0"], 2, "--batch"),
        (base + ["--dtype", "f64"], 2, "--dtype 'f64'"),
        (base + ["--frobnicate"], 2, "unknown option '--frobnicate'"),
        (base + ["--streams", "image,pixels"], 1, "unknown stream 'pixels'"),
        (base + ["--layers", "99"], 1, "out of range"),
        (base + ["--pool", "median"], 1, "'median'"),
        (base + ["--template", "no image here {prompt}"], 1, "<image>"),
        (["extract", "--model", model, "--data", manifest, "--out", "/nonexistent/x.h5"], 1,
         "/nonexistent"),
        (["extract", "--model", os.path.join(tmp, "nowhere"), "--data", manifest, "--out", out],
         1, "nowhere"),
        (["extract", "--model", model, "--data", bad_manifest, "--out", out], 1, ["bad.jsonl", "2"]),
        (["extract", "--model", text_model, "--data", manifest, "--out", out, "--streams",
          "image"], 1, "needs a vision model"),
    ]
    for args, code, needle in cases:
        for f in (out, out + ".partial"):
            if os.path.exists(f):
                os.remove(f)
        p = ec.run(2, args, expect=code)
        needles = needle if isinstance(needle, list) else [needle]
        check(all(x in p.stderr for x in needles), f"{' '.join(args[7:] or args[1:3])}: message "
              f"should name {needle!r}: {p.stderr[-400:]}")
        check(p.stderr.count("error") == 1, f"{needle}: one error message, not one per rank: "
              f"{p.stderr[-600:]}")
        check(not os.path.exists(out) and not os.path.exists(out + ".partial"),
              f"{needle}: nothing written")
    # device memory: a batch whose forward needs more than the budget is refused before any
    # work, naming the largest batch that fits; that batch then runs, one more is refused
    import re
    for f in (out, out + ".partial"):
        if os.path.exists(f):
            os.remove(f)
    p = ec.run(2, base + ["--batch", "8", "--memory-budget", "0.001"], expect=1)
    m = re.search(r"largest batch that fits is (\d+)", p.stderr)
    if check(m is not None, f"memory refusal names the largest batch: {p.stderr[-500:]}"):
        k = int(m.group(1))
        check(1 <= k < 8 and not os.path.exists(out + ".partial"), f"refused before work, k={k}")
        ec.run(2, base + ["--batch", str(k), "--memory-budget", "0.001", "--progress", "none",
                          "--overwrite"])
        ec.run(2, base + ["--batch", str(k + 1), "--memory-budget", "0.001", "--overwrite"],
               expect=1)
    p = ec.run(1, base + ["--memory-budget", "0.0001"], expect=1)
    check("even at batch 1" in p.stderr, f"too small for batch 1: {p.stderr[-300:]}")
    # a complete archive is not overwritten without --overwrite
    for f in (out, out + ".partial"):
        if os.path.exists(f):
            os.remove(f)
    ec.run(1, base + ["--progress", "none"])
    p = ec.run(1, base, expect=1)
    check("overwrite" in p.stderr, f"complete archive refused, naming --overwrite: {p.stderr[-300:]}")


{"cli": mode_cli, "ranks": mode_ranks, "bad": mode_bad, "kill": mode_kill, "term": mode_term}[mode]()
ec.finish(f"test_extract_e2e {mode}")
