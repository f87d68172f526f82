"""test_study_cli.py — `strata study` without Slurm:
  - bad specs (unknown key, wrong type, missing model path, a model name with shell
    metacharacters) fail with file:line:column and the reason before any submission: an
    `sbatch` first on PATH records every call, and must never be called;
  - --dry-run prints the three scripts and the sbatch commands, and bash accepts the scripts;
  - --local runs extract for every model, then analyze, then figures, with mpirun, through the
    generated scripts, with a model path full of shell metacharacters: the path arrives intact
    as one argument and nothing in it runs; a second --local has nothing left to do.
The step commands are tests/slurm/step_double.py (the real ones are tested in tests/slurm)."""
import json
import os
import re
import shutil
import subprocess
import sys

STRATA = os.environ["STRATA_BIN"]
TMP = os.environ.get("STRATA_TEST_TMP", "/tmp/strata-study-cli")
HERE = os.path.dirname(os.path.abspath(__file__))
DOUBLE = os.path.join(HERE, "..", "slurm", "step_double.py")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


shutil.rmtree(TMP, ignore_errors=True)
os.makedirs(f"{TMP}/bin")
os.makedirs(f"{TMP}/data")
HOSTILE = "m $(touch PWNED) `touch PWNED` 'q' \"d\" ;touch PWNED; & | > < * ? ~ \\ ✓"
models = {"plain": f"{TMP}/models/plain", "hostile": f"{TMP}/models/{HOSTILE}"}
for path in models.values():
    os.makedirs(path)
    with open(os.path.join(path, "config.json"), "w") as f:
        f.write("{}\n")
with open(f"{TMP}/data/manifest.jsonl", "w") as f:
    for i in range(6):
        f.write(json.dumps({"id": str(i), "image": f"{i}.jpg", "caption": "x"}) + "\n")
with open(f"{TMP}/bin/sbatch", "w") as f:
    f.write(f"#!/bin/sh\necho \"$@\" >> {TMP}/sbatch-called\necho 1\n")
os.chmod(f"{TMP}/bin/sbatch", 0o755)
double = f"{TMP}/bin/strata-double"
with open(double, "w") as f:
    f.write(f"#!/bin/sh\nexec {sys.executable} {DOUBLE} \"$@\"\n")
os.chmod(double, 0o755)
env = dict(os.environ, PATH=f"{TMP}/bin:" + os.environ["PATH"], STEP_DOUBLE_LOG=f"{TMP}/double.jsonl",
           ROUND_SECONDS="0")


def study(spec, *args):
    r = subprocess.run([STRATA, "study", spec, *args], capture_output=True, text=True, env=env, cwd=TMP)
    print(f"$ strata study {os.path.basename(spec)} {' '.join(args)}  (exit {r.returncode})\n"
          f"{r.stdout[-3000:]}{r.stderr}")
    return r


HEAD = "name: cli\noutput: out\ndataset: data/manifest.jsonl\n"
bad = {
    "unknown key": (HEAD + "models:\n  - {name: a, path: models/plain, kind: vlm}\nqueue: gpu\n",
                    "bad.yaml:6:1: unknown key 'queue'"),
    "wrong type": (HEAD + "models:\n  - {name: a, path: models/plain, kind: vlm}\nslurm:\n  nodes: [2]\n",
                   "bad.yaml:7:11: 'nodes' must be an integer, found a list"),
    "missing model path": (HEAD + "models:\n  - {name: a, path: models/absent, kind: vlm}\n",
                           "bad.yaml:5:21: model 'a': path"),
    "shell metacharacters in a name": (
        HEAD + "models:\n  - {name: \"x;touch PWNED\", path: models/plain, kind: vlm}\n",
        "bad.yaml:5:13: model name 'x;touch PWNED' may only hold"),
}
for what, (text, message) in bad.items():
    with open(f"{TMP}/bad.yaml", "w") as f:
        f.write(text)
    r = study(f"{TMP}/bad.yaml", "--submit")
    check(r.returncode == 1 and message in r.stderr, f"{what}: exit 1 with '{message}'")
check(not os.path.exists(f"{TMP}/sbatch-called"), "no bad spec reached sbatch")
check(not os.path.exists(f"{TMP}/out"), "no bad spec created the output folder")

spec = f"{TMP}/study.yaml"
with open(spec, "w") as f:
    f.write(HEAD + f"strata: {double}\n" +
            "models:\n"
            "  - {name: plain, path: models/plain, kind: vlm, template: \"USER: <image>\\n'{prompt}' ASSISTANT:\"}\n"
            f"  - name: hostile\n    path: {json.dumps('models/' + HOSTILE)}\n    kind: text\n"
            "streams: [image, caption]\n"
            "extract: {batch: 2, args: [\"--prompt\", \"it's $(touch PWNED)\"]}\n"
            "analysis: {metrics: [cka, id]}\n"
            "slurm: {nodes: 1, ntasks-per-node: 1}\n")

r = study(spec, "--dry-run")
check(r.returncode == 0, "--dry-run exits 0")
scripts = re.split(r"^#### (.*) ####$", r.stdout, flags=re.M)
names = [os.path.basename(s) for s in scripts[1::2]]
check(names == ["extract.sbatch", "analyze.sbatch", "figures.sbatch", "what --submit would run now"],
      f"--dry-run shows the three scripts and the plan ({names})")
for name, text in zip(names[:3], scripts[2::2]):
    b = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
    check(b.returncode == 0, f"bash -n {name}: {b.stderr.strip()}")
check("sbatch --parsable --array=0-1 " in r.stdout, "the plan submits both models as an array")
check(not os.path.exists(f"{TMP}/sbatch-called"), "--dry-run never calls sbatch")

r = study(spec, "--local")
check(r.returncode == 0, "--local exits 0")
records = [json.loads(line) for line in open(f"{TMP}/double.jsonl")]
steps = [x["step"] for x in records if "args" in x]
check(steps == ["extract", "extract", "analyze", "figures"], f"steps in order: {steps}")
hostile = [x["args"] for x in records if x["step"] == "extract" and x["out"].endswith("hostile.h5")]
check(len(hostile) == 1 and hostile[0][hostile[0].index("--model") + 1] == os.path.realpath(models["hostile"]),
      "the hostile model path arrives intact as one argument")
plain = [x["args"] for x in records if x["step"] == "extract" and x["out"].endswith("plain.h5")][0]
check(plain[plain.index("--template") + 1] == "USER: <image>\n'{prompt}' ASSISTANT:", "template intact")
check(plain[plain.index("--prompt") + 1] == "it's $(touch PWNED)", "free extract arguments intact")
check(plain[plain.index("--streams") + 1] == "image,caption" and
      hostile[0][hostile[0].index("--streams") + 1] == "caption", "streams per model kind")
pwned = [os.path.join(d, f) for d, _, fs in os.walk(TMP) for f in fs if f == "PWNED"]
check(not pwned, f"nothing in the spec ran as a command ({pwned})")
check(os.path.exists(f"{TMP}/out/figures/index.md"), "figures written")
status = study(spec, "--status").stdout
check(re.search(r"^plain\s+complete\s+6\s+6\s+0\s+0", status, re.M) is not None and
      re.search(r"^hostile\s+complete\s+6\s+6\s+0\s+0", status, re.M) is not None, "--status: both complete")

n = len(records)
r = study(spec, "--local")
check(r.returncode == 0 and len(open(f"{TMP}/double.jsonl").readlines()) == n,
      "a finished study has nothing left to run")
os.remove(f"{TMP}/out/archives/plain.h5")
r = study(spec, "--local")
steps = [json.loads(line)["step"] for line in open(f"{TMP}/double.jsonl").readlines()[n:]]
check(r.returncode == 0 and steps == ["extract", "analyze", "figures"],
      f"a removed archive is extracted again, then analysis and figures ({steps})")

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
