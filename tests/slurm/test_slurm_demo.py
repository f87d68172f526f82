"""test_slurm_demo.py — the demo study (jobs/examples/demo.yaml, three tiny models made by
jobs/examples/demo-study.sh) submitted as a real job array on a real single-node Slurm
(slurm/cluster-start.sh), with the real step commands:
  - the chain runs: three extract tasks, then analyze, then figures (Slurm's start/end times);
  - every archive is complete, all samples ok, each stream [L+1, N, D] as the model's
    config.json says (the text model has the caption stream only);
  - results.h5 holds every model and the cross-model CKA, and its numbers are those of the
    archives: linear CKA recomputed with numpy from the archives (image vs caption within a
    model, caption across two models) within 1e-6;
  - figures: index.md lists them; each PNG decodes (PIL), is not blank;
  - --status reports every archive complete and the job ids;
  - --submit on the finished study submits nothing;
  - preemption: the same study into a second folder; one running task is requeued by Slurm
    (`scontrol requeue`), another gets the time-limit warning (USR1 to its batch shell) and
    requeues itself after extract's clean exit 75; both resume their archives, --status shows
    them partial meanwhile, the chain completes, and every archive equals the clean run's;
  - a half-done study (one archive removed): --submit sends only that task, then analysis
    and figures.
Daemons are stopped by their pid files whatever happens."""
import glob
import os
import re
import shutil
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import cluster  # noqa: E402

cluster.skip_unless_possible()
STRATA = os.environ["STRATA_BIN"]
for command in ("mkmodel", "mkdata", "extract", "analyze", "figures"):
    if subprocess.run([STRATA, command, "--help"], capture_output=True).returncode != 0:
        print(f"SKIP: strata {command} is not in this build yet")
        sys.exit(77)
SOURCE = os.environ["STRATA_SOURCE_DIR"]
TMP = os.environ.get("STRATA_TEST_TMP", "/tmp/strata-slurm-demo")
MODELS = ["llava-tiny-a", "llava-tiny-b", "llama-tiny"]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def run(*cmd, **kw):
    r = subprocess.run(list(cmd), capture_output=True, text=True, **kw)
    print(f"$ {' '.join(cmd)}  (exit {r.returncode})\n{r.stdout[-4000:]}{r.stderr[-4000:]}", flush=True)
    return r


def state_lines(out):
    with open(os.path.join(out, "study.state")) as f:
        return [line.split() for line in f if not line.startswith("#")]


def slurm_time(value):
    return time.mktime(time.strptime(value, "%Y-%m-%dT%H:%M:%S"))


def linear_cka(x, y):
    """Biased linear CKA (Kornblith et al. 2019) of two row-paired matrices, in float64."""
    x = x - x.mean(0)
    y = y - y.mean(0)
    xy = np.linalg.norm(y.T @ x) ** 2
    return xy / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def check_archives(out):
    for m in MODELS:
        path = f"{out}/archives/{m}.h5"
        check(os.path.exists(path) and not os.path.exists(path + ".partial"), f"{m}: archive complete on disk")
        if not os.path.exists(path):
            continue
        config = __import__("json").load(open(f"{TMP}/demo/study/models/{m}/config.json"))
        text = config.get("text_config", config)
        with h5py.File(path, "r") as f:
            check(f.attrs["format"] in (b"strata-activations", "strata-activations") and int(f.attrs["complete"]) == 1,
                  f"{m}: format and complete=1")
            n = len(f["samples/status"])
            check(n == SAMPLES and (f["samples/status"][:] == 1).all(), f"{m}: {n} samples, all ok")
            streams = sorted(f["activations"].keys())
            want = ["caption"] if m.startswith("llama") else ["caption", "image"]
            check(streams == want, f"{m}: streams {streams}")
            for s in streams:
                shape = f[f"activations/{s}"].shape
                check(shape == (text["num_hidden_layers"] + 1, SAMPLES, text["hidden_size"]),
                      f"{m}/{s}: shape {shape} = [L+1, N, D] of config.json")


SAMPLES = 128  # enough rounds at batch 1 to catch the tasks mid-extraction
shutil.rmtree(TMP, ignore_errors=True)
os.makedirs(f"{TMP}/jobs/examples")
shutil.copy(f"{SOURCE}/jobs/examples/demo.yaml", f"{TMP}/jobs/examples/demo.yaml")
spec = f"{TMP}/jobs/examples/demo.yaml"
out = f"{TMP}/demo/study/out"
env = dict(os.environ, DEMO_ROOT=TMP, DEMO_SAMPLES=str(SAMPLES))

with cluster.SlurmCluster(f"{TMP}/cluster") as c:
    try:
        print(f"cluster up in {c.start_seconds:.1f} s", flush=True)
        env["SLURM_CONF"] = c.conf
        t0 = time.time()
        r = run(f"{SOURCE}/jobs/examples/demo-study.sh", "--submit", env=env)
        check(r.returncode == 0, "demo-study.sh --submit exits 0")
        steps = state_lines(out)
        check([s[1] for s in steps] == ["extract", "analyze", "figures"] and steps[0][3] == "0,1,2",
              "one array of three models, analyze, figures")
        array, analyze, figures = steps[0][2], steps[1][2], steps[2][2]
        c.wait_idle(240)
        print(f"chain done in {time.time() - t0:.1f} s", flush=True)
        for i, m in enumerate(MODELS):
            check(c.job_field(f"{array}_{i}", "JobState") == "COMPLETED", f"extract {m} COMPLETED")
        for name, job in (("analyze", analyze), ("figures", figures)):
            check(c.job_field(job, "JobState") == "COMPLETED", f"{name} COMPLETED")
        ends = [slurm_time(c.job_field(f"{array}_{i}", "EndTime")) for i in range(3)]
        check(slurm_time(c.job_field(analyze, "StartTime")) >= max(ends), "analyze after every extract task")
        check(slurm_time(c.job_field(figures, "StartTime")) >= slurm_time(c.job_field(analyze, "EndTime")),
              "figures after analyze")
        for log in sorted(glob.glob(f"{out}/logs/*.log")):
            print(f"--- {os.path.basename(log)}\n" + open(log).read()[-1500:], flush=True)

        check_archives(out)

        # results: every model, and its numbers are the archives' (numpy CKA)
        with h5py.File(f"{out}/results.h5", "r") as res:
            check(all(m in res for m in MODELS), f"results: a group per model ({list(res.keys())})")
            arch = {m: h5py.File(f"{out}/archives/{m}.h5", "r") for m in MODELS}
            m = "llava-tiny-a"
            cka = res[f"{m}/cka/image__caption"][:]
            layers = list(res[f"{m}/image"].attrs["layers"])
            for li in (0, len(layers) - 1):
                x = arch[m]["activations/image"][layers[li]].astype(np.float64)
                y = arch[m]["activations/caption"][layers[li]].astype(np.float64)
                ref = linear_cka(x, y)
                check(abs(cka[li, li] - ref) <= 1e-6 * max(1, abs(ref)),
                      f"{m} CKA image/caption layer {layers[li]}: {cka[li, li]:.8f} vs numpy {ref:.8f}")
            pairs = [k for k in res.get("cross", {}).keys()]
            check(len(pairs) == 3, f"results: three cross-model pairs ({pairs})")
            pair = next((p for p in pairs if "llava-tiny-a" in p and "llama-tiny" in p), None)
            if pair:
                a, b = pair.split("__")
                cross = res[f"cross/{pair}/cka/caption"][:]
                x = arch[a]["activations/caption"][-1].astype(np.float64)
                y = arch[b]["activations/caption"][-1].astype(np.float64)
                ref = linear_cka(x, y)
                check(abs(cross[-1, -1] - ref) <= 1e-6 * max(1, abs(ref)),
                      f"cross CKA {pair} caption, last layers: {cross[-1, -1]:.8f} vs numpy {ref:.8f}")
            for f in arch.values():
                f.close()

        # figures: listed in index.md, PNGs decode and are not blank
        index = open(f"{out}/figures/index.md").read() if os.path.exists(f"{out}/figures/index.md") else ""
        pngs = sorted(glob.glob(f"{out}/figures/*.png"))
        check(len(pngs) >= 5, f"{len(pngs)} PNG figures")
        from PIL import Image
        for png in pngs:
            im = np.asarray(Image.open(png).convert("L"), dtype=np.float64)
            check(os.path.basename(png)[:-4] in index and im.size > 10000 and im.std() > 1,
                  f"{os.path.basename(png)}: in index.md, {im.shape}, not blank")

        status = run(STRATA, "study", spec, "--status", env=env).stdout
        for i, m in enumerate(MODELS):
            check(re.search(rf"^{m}\s+complete\s+{SAMPLES}\s+{SAMPLES}\s+0\s+0\s+{array}_{i} COMPLETED",
                            status, re.M) is not None, f"--status: {m} complete, job {array}_{i}")

        # 2. a finished study: --submit has nothing to submit
        r = run(STRATA, "study", spec, "--submit", env=env)
        check(r.returncode == 0 and "submitted" not in r.stdout and len(state_lines(out)) == 3,
              "--submit on the finished study submits nothing")

        # 3. preemption: the same study into out-requeue at batch 1 (many rounds, so that the
        # tasks can be caught mid-extraction). Task 0: `scontrol requeue` (Slurm's own requeue,
        # SIGTERM to every process). Task 1: USR1 to the batch shell, as --signal=B:USR1@s
        # sends it before the time limit: the script forwards it, extract exits 75, the
        # script requeues its task. Figures: two kinds only, to save time.
        spec2 = f"{TMP}/jobs/examples/demo-requeue.yaml"
        text = open(spec).read().replace("demo/study/out", "demo/study/out-requeue")
        text = text.replace("batch: 8", "batch: 1").replace("format: [pdf, png]",
                                                            "format: [png]\n  only: [norms, overlap]")
        open(spec2, "w").write(text)
        out2 = f"{TMP}/demo/study/out-requeue"
        r = run(STRATA, "study", spec2, "--submit", env=env)
        array2 = state_lines(out2)[0][2]

        def rounds_done(model):
            try:
                with h5py.File(f"{out2}/archives/{model}.h5.partial", "r", locking=False) as f:
                    return int(f["progress/round_done"][:].sum()), len(f["progress/round_done"])
            except (OSError, KeyError):
                return 0, 0

        signalled = {}
        t0 = time.time()
        while len(signalled) < 2 and time.time() - t0 < 60:
            for i, how in ((0, ["scontrol", "requeue"]), (1, ["scancel", "--batch", "--signal=USR1"])):
                done, total = rounds_done(MODELS[i])
                if i not in signalled and done >= 2:
                    subprocess.run(how + [f"{array2}_{i}"], check=True)
                    signalled[i] = (done, total)
            time.sleep(0.02)
        for i, what in ((0, "scontrol requeue"), (1, "USR1 warning")):
            done, total = signalled.get(i, (0, 0))
            check(0 < done < total, f"{what}: task {i} caught mid-extraction ({done}/{total} rounds)")
        # While the requeued tasks wait to run again, --status sees partial archives.
        wait_for = time.time() + 30
        while c.job_field(f"{array2}_1", "Restarts") != "1" and time.time() < wait_for:
            time.sleep(0.2)
        status = run(STRATA, "study", spec2, "--status", env=env).stdout
        check(re.search(rf"^{MODELS[1]}\s+partial\s+{SAMPLES}\s+[1-9]\d*\s+0\s+[1-9]", status, re.M) is not None,
              f"--status: {MODELS[1]} partial while requeued")
        c.wait_idle(240)
        for i in (0, 1):
            check(c.job_field(f"{array2}_{i}", "Restarts") == "1" and
                  c.job_field(f"{array2}_{i}", "JobState") == "COMPLETED", f"task {i} requeued once, then completed")
        log1 = open(f"{out2}/logs/extract-{array2}_1.log").read()
        check("exit 75" in log1 and "requeueing job" in log1, "USR1: extract exited 75, the script requeued its task")
        for i in (0, 1):
            log = open(f"{out2}/logs/extract-{array2}_{i}.log").read()
            check(log.count(f"strata study: extract {MODELS[i]}") == 2 and "resuming" in log,
                  f"task {i}: two runs in its log, the second resumed the archive")
        check(os.path.exists(f"{out2}/results.h5") and os.path.exists(f"{out2}/figures/index.md"),
              "the requeued study completed (results, figures)")
        for m in MODELS:
            with h5py.File(f"{out}/archives/{m}.h5", "r") as a, h5py.File(f"{out2}/archives/{m}.h5", "r") as b:
                same = (a["samples/id"][:] == b["samples/id"][:]).all() and \
                       (a["samples/status"][:] == b["samples/status"][:]).all()
                for s in a["activations"]:
                    x, y = a[f"activations/{s}"][:], b[f"activations/{s}"][:]
                    # batch 1 vs batch 8: extract's own contract is 1e-5 relative per row
                    err = np.abs(x - y).max(axis=-1) / np.maximum(np.abs(x).max(axis=-1), 1e-30)
                    same = same and x.shape == y.shape and float(err.max()) <= 1e-5
                check(same, f"{m}: the requeued run's archive equals the clean run's")

        # 4. a half-done study: one archive gone, --submit sends only its task, then the
        # analysis and figures again
        os.remove(f"{out2}/archives/{MODELS[2]}.h5")
        r = run(STRATA, "study", spec2, "--submit", env=env)
        lines = state_lines(out2)
        check([ln[1] for ln in lines[3:]] == ["extract", "analyze", "figures"] and lines[3][3] == "2",
              "only the missing model is submitted, then analyze and figures")
        r = run(STRATA, "study", spec2, "--submit", env=env)
        check(r.returncode == 0 and "submitted" not in r.stdout and len(state_lines(out2)) == 6,
              "--submit again while those jobs are queued or running submits nothing")
        c.wait_idle(240)
        check(os.path.exists(f"{out2}/archives/{MODELS[2]}.h5") and
              c.job_field(lines[5][2], "JobState") == "COMPLETED", "the half-done study completed")
    except Exception:
        for log in sorted(glob.glob(f"{TMP}/demo/study/out*/logs/*.log")):
            print(f"--- {log}\n" + open(log).read()[-2000:])
        print(c.log_tail())
        raise

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
