"""test_slurm_machinery.py — `strata study --submit` on a real single-node Slurm (slurmctld +
slurmd started by slurm/cluster-start.sh), with step_double.py standing in for the step commands
so that timing is under control:
  1. a 3-model study: the extract array, then analyze after it, then figures after that
     (checked with Slurm's own start/end times), every archive complete, --status agrees;
  2. --submit again on the finished study submits nothing;
  3. one archive removed: only its array task is submitted; a time-limit warning (USR1 to the
     batch shell, as --signal=B:USR1@s sends it) makes extract flush and exit 75, the script
     requeues the task, the rerun resumes the archive from where it stopped;
  4. `scontrol requeue` of a running task: the study still completes and the task resumes.
The daemons are stopped by their pid files whatever happens."""
import json
import os
import re
import shutil
import subprocess
import sys
import time

import h5py

sys.path.insert(0, os.path.dirname(__file__))
import cluster  # noqa: E402

cluster.skip_unless_possible()
STRATA = os.environ["STRATA_BIN"]
TMP = os.environ.get("STRATA_TEST_TMP", "/tmp/strata-slurm-machinery")
HERE = os.path.dirname(os.path.abspath(__file__))
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def study(*args):
    r = subprocess.run([STRATA, "study", SPEC, *args], capture_output=True, text=True)
    print(f"$ strata study {' '.join(args)}  (exit {r.returncode})\n{r.stdout}{r.stderr}")
    return r


def records():
    with open(os.environ["STEP_DOUBLE_LOG"]) as f:
        return [json.loads(line) for line in f]


def state_lines():
    with open(os.path.join(OUT, "study.state")) as f:
        return [line.split() for line in f if not line.startswith("#")]


def archive_complete(i):
    path = os.path.join(OUT, "archives", f"m{i}.h5")
    if not os.path.exists(path):
        return False
    with h5py.File(path, "r") as f:
        return int(f.attrs["complete"]) == 1 and int(f["samples/status"][:].min()) == 1


def slurm_time(value):
    return time.mktime(time.strptime(value, "%Y-%m-%dT%H:%M:%S"))


def wait_for(cond, timeout, what):
    t0 = time.time()
    while not cond():
        if time.time() - t0 > timeout:
            raise TimeoutError(what)
        time.sleep(0.2)


def rounds_done(i):
    path = os.path.join(OUT, "archives", f"m{i}.h5.partial")
    try:
        with h5py.File(path, "r", locking=False) as f:
            return int(f["progress/round_done"][:].sum())
    except (OSError, KeyError):
        return 0


shutil.rmtree(TMP, ignore_errors=True)
os.makedirs(TMP)
for i in range(3):
    os.makedirs(f"{TMP}/models/m{i}")
    with open(f"{TMP}/models/m{i}/config.json", "w") as f:
        f.write("{}\n")
os.makedirs(f"{TMP}/data")
with open(f"{TMP}/data/manifest.jsonl", "w") as f:
    for i in range(12):
        f.write(json.dumps({"id": str(i), "image": f"{i}.jpg", "caption": "a shape"}) + "\n")
double = f"{TMP}/strata-double"
with open(double, "w") as f:
    f.write(f"#!/bin/sh\nexec {sys.executable} {HERE}/step_double.py \"$@\"\n")
os.chmod(double, 0o755)
SPEC = f"{TMP}/study.yaml"
OUT = f"{TMP}/out"
with open(SPEC, "w") as f:
    f.write(f"""name: machinery
output: out
dataset: data/manifest.jsonl
strata: {double}
models:
  - {{name: m0, path: models/m0, kind: vlm}}
  - {{name: m1, path: models/m1, kind: vlm}}
  - {{name: m2, path: models/m2, kind: text}}
streams: [image, caption]
slurm:
  nodes: 1
  ntasks-per-node: 1
  cpus-per-task: 1
  time: "00:10:00"
  signal-seconds: 60
""")
os.environ["STEP_DOUBLE_LOG"] = f"{TMP}/double.jsonl"
os.environ["ROUND_SECONDS"] = "0.6"

with cluster.SlurmCluster(f"{TMP}/cluster") as c:
    print(f"cluster up in {c.start_seconds:.1f} s")
    try:
        # 1. the whole chain
        t0 = time.time()
        r = study("--submit")
        check(r.returncode == 0, "submit exits 0")
        lines = state_lines()
        check([ln[1] for ln in lines] == ["extract", "analyze", "figures"], "state: extract, analyze, figures")
        array, analyze, figures = lines[0][2], lines[1][2], lines[2][2]
        check(lines[0][3] == "0,1,2", "state: the array covers models 0,1,2")
        c.wait_idle(120)
        print(f"chain done in {time.time() - t0:.1f} s")
        for i in range(3):
            check(archive_complete(i), f"archive m{i} complete")
            check(c.job_field(f"{array}_{i}", "JobState") == "COMPLETED", f"task {i} COMPLETED")
        check(c.job_field(analyze, "JobState") == "COMPLETED", "analyze COMPLETED")
        check(c.job_field(figures, "JobState") == "COMPLETED", "figures COMPLETED")
        ends = [slurm_time(c.job_field(f"{array}_{i}", "EndTime")) for i in range(3)]
        check(slurm_time(c.job_field(analyze, "StartTime")) >= max(ends), "analyze started after every task")
        check(slurm_time(c.job_field(figures, "StartTime")) >= slurm_time(c.job_field(analyze, "EndTime")),
              "figures started after analyze")
        check(os.path.exists(f"{OUT}/figures/index.md"), "figures written")
        ex = [x for x in records() if x["step"] == "extract" and "args" in x]
        m2 = [x for x in ex if x["out"].endswith("m2.h5")][0]["args"]
        check(m2[m2.index("--streams") + 1] == "caption", "the text model extracts the caption stream only")
        an = [x for x in records() if x["step"] == "analyze"][0]
        check([os.path.basename(a) for a in an["archives"]] == ["m0.h5", "m1.h5", "m2.h5"],
              "analyze got every archive")
        s = study("--status").stdout
        for i in range(3):
            check(re.search(rf"^m{i}\s+complete\s+12\s+12\s+0\s+0\s+{array}_{i} COMPLETED", s, re.M) is not None,
                  f"--status: m{i} complete 12 ok, job {array}_{i}")
        check(re.search(rf"analyze\s+{analyze}\s+COMPLETED", s) is not None, "--status: analyze job")

        # 2. nothing left to do
        r = study("--submit")
        check(r.returncode == 0 and "submitted" not in r.stdout, "a finished study submits nothing")
        check(len(state_lines()) == 3, "state unchanged")

        # 3. time-limit warning: USR1 to the batch shell -> exit 75 -> the task requeues itself
        os.remove(f"{OUT}/archives/m1.h5")
        r = study("--submit")
        lines = state_lines()
        check(lines[3][1] == "extract" and lines[3][3] == "1", "only the missing model is submitted")
        check("submitted analyze" in r.stdout and "submitted figures" in r.stdout,
              "analysis and figures follow the new archive")
        task = f"{lines[3][2]}_1"
        wait_for(lambda: rounds_done(1) >= 1, 60, "m1 never started")
        c.run("scancel", "--batch", "--signal=USR1", task)
        wait_for(lambda: c.job_field(task, "Restarts") == "1", 30, "task 1 was not requeued")
        s = study("--status").stdout
        check(re.search(r"^m1\s+partial\s+12\s+\d+\s+0\s+[1-9]", s, re.M) is not None,
              "--status: m1 partial while requeued")
        c.wait_idle(120)
        check(archive_complete(1), "m1 complete after the requeue")
        stops = [x for x in records() if "stopped_after_round" in x and x["out"].endswith("m1.h5")]
        check(len(stops) == 1 and stops[0]["signal"] == 10, "extract stopped on USR1")
        runs = [x for x in records() if x.get("resumed_at") is not None and x["out"].endswith("m1.h5")]
        check(len(runs) == 3 and runs[-1]["resumed_at"] == stops[0]["stopped_after_round"] + 1
              and runs[-1]["restart"] == "1", "the requeued task resumed after the flushed round")
        log = open(f"{OUT}/logs/extract-{lines[3][2]}_1.log").read()
        check("requeueing job" in log, "the script requeued itself")

        # 4. scontrol requeue of a running task
        os.remove(f"{OUT}/archives/m2.h5")
        study("--submit")
        task = f"{state_lines()[6][2]}_2"
        wait_for(lambda: rounds_done(2) >= 1, 60, "m2 never started")
        c.run("scontrol", "requeue", task)
        c.wait_idle(120)
        check(archive_complete(2), "m2 complete after scontrol requeue")
        stops = [x for x in records() if "stopped_after_round" in x and x["out"].endswith("m2.h5")]
        check(len(stops) == 1 and stops[0]["signal"] == 15, "extract stopped on Slurm's SIGTERM")
        runs = [x for x in records() if x.get("resumed_at") is not None and x["out"].endswith("m2.h5")]
        check(runs[-1]["resumed_at"] > 0, "the requeued task resumed its archive")
        check(c.job_field(state_lines()[-1][2], "JobState") == "COMPLETED", "figures after the requeue")
    except Exception:
        print(c.log_tail())
        raise

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
