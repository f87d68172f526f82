"""test_study_cli.py — `strata study` without Slurm:
  - bad specs (unknown key, wrong type, missing model path, a model name with shell
    metacharacters) fail with file:line:column and the reason before any submission: an
    `sbatch` first on PATH records every call, and must never be called;
  - --dry-run prints the three scripts and the sbatch commands, and bash accepts the scripts;
  - --local runs the real extract for every model, then analyze, then figures, with mpirun,
    through the generated scripts, with a model folder whose name is full of shell
    metacharacters: the path arrives intact as one argument (the archive records its command
    line; the model is named after the spec, not the folder) and nothing in it runs; --status agrees; a second --local has
    nothing left to do; a removed archive is extracted again, then analysis and figures.
    (Without extract/analyze in the build this part is skipped, the spec checks still run.)"""
import json
import os
import re
import shutil
import subprocess
import sys

import h5py

STRATA = os.environ["STRATA_BIN"]
TMP = os.environ.get("STRATA_TEST_TMP", "/tmp/strata-study-cli")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


shutil.rmtree(TMP, ignore_errors=True)
os.makedirs(f"{TMP}/bin")
os.makedirs(f"{TMP}/data")
HOSTILE = "m $(touch PWNED) `touch PWNED` 'q' \"d\" ;touch PWNED; & | > < * ? ~ \\ ✓"
os.makedirs(f"{TMP}/models/plain")
with open(f"{TMP}/models/plain/config.json", "w") as f:
    f.write("{}\n")
with open(f"{TMP}/data/manifest.jsonl", "w") as f:
    f.write(json.dumps({"id": "0", "image": "0.jpg", "caption": "x"}) + "\n")
with open(f"{TMP}/bin/sbatch", "w") as f:
    f.write(f"#!/bin/sh\necho \"$@\" >> {TMP}/sbatch-called\necho 1\n")
os.chmod(f"{TMP}/bin/sbatch", 0o755)
env = dict(os.environ, PATH=f"{TMP}/bin:" + os.environ["PATH"])


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

# The generated scripts: --dry-run
spec = f"{TMP}/dry.yaml"
with open(spec, "w") as f:
    f.write(HEAD + "models:\n  - {name: a, path: models/plain, kind: vlm}\n"
            "  - {name: b, path: models/plain, kind: text}\n")
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

# --local with the real commands and a hostile model folder name
for command in ("mkmodel", "mkdata", "extract", "analyze", "figures"):
    if subprocess.run([STRATA, command, "--help"], capture_output=True).returncode != 0:
        print(f"strata {command} is not in this build: --local not tested")
        print(f"{len(failures)} failures")
        sys.exit(1 if failures else 0)
hostile_dir = f"{TMP}/models/{HOSTILE}"
for args in (["mkmodel", "--arch", "llava", "--preset", "tiny", "--seed", "1", "--out", f"{TMP}/models/llava"],
             ["mkmodel", "--arch", "llama", "--preset", "tiny", "--seed", "2", "--out", hostile_dir],
             ["mkdata", "--out", f"{TMP}/set", "--n", "24", "--size", "48", "--seed", "3"]):
    subprocess.run([STRATA, *args], check=True, capture_output=True)
with open(f"{TMP}/set/manifest.jsonl", "a") as f:  # a bad sample: recorded, then reported
    f.write(json.dumps({"id": "lost", "image": "images/lost.jpg", "caption": "a lost image"}) + "\n")
spec = f"{TMP}/study.yaml"
with open(spec, "w") as f:
    f.write("name: cli\noutput: out\ndataset: set/manifest.jsonl\n"
            "models:\n"
            "  - {name: llava, path: models/llava, kind: vlm, template: \"USER: <image>\\n{prompt} ASSISTANT:\"}\n"
            f"  - name: hostile\n    path: {json.dumps('models/' + HOSTILE)}\n    kind: text\n"
            "  - {name: llava_skip, path: models/llava, kind: vlm, args: [\"--nll\", \"--intervene\", "
            "\"skip-ffn:0-0\", \"--prompt\", \"per model $(touch PWNED)\"]}\n"
            "streams: [image, caption]\n"
            "extract: {batch: 4, args: [\"--prompt\", \"it's $(touch PWNED)\"]}\n"
            "analysis: {args: [\"--k\", \"5\", \"--overlap-k\", \"5\", \"--gride-n1\", \"2\", \"--gride-range\", \"8\"]}\n"
            "figures: {format: [png], only: [norms]}\n"
            "slurm: {nodes: 1, ntasks-per-node: 1}\n")
r = study(spec, "--local")
check(r.returncode == 0, "--local exits 0")
out = f"{TMP}/out"
with h5py.File(f"{out}/archives/hostile.h5", "r") as f:
    line = f.attrs["command_line"]
    line = line.decode() if isinstance(line, bytes) else line
    name = f["model"].attrs["name"]
    name = name.decode() if isinstance(name, bytes) else name
    link = f"{out}/models/hostile"
    check(os.path.realpath(link) == os.path.realpath(hostile_dir) and link in line,
          "the hostile model path reached extract intact (through the link named after the model)")
    check(name == "hostile", f"the archive's model name is the study's ({name!r})")
    check(sorted(f["activations"].keys()) == ["caption"], "the text model has the caption stream only")
with h5py.File(f"{out}/archives/llava.h5", "r") as f:
    line = f.attrs["command_line"]
    line = line.decode() if isinstance(line, bytes) else line
    check("it's $(touch PWNED)" in line and "USER: <image>\n{prompt} ASSISTANT:" in line,
          "template and free arguments reached extract intact")
    check(sorted(f["activations"].keys()) == ["caption", "image"], "the vlm has image and caption")
with h5py.File(f"{out}/archives/llava_skip.h5", "r") as f:  # a model's own args, after the study's
    line = f.attrs["command_line"]
    line = line.decode() if isinstance(line, bytes) else line
    iv = f["nll/caption"].attrs["interventions"] if "nll/caption" in f else None
    iv = iv.decode() if isinstance(iv, bytes) else iv
    check("--intervene skip-ffn:0-0" in line and "per model $(touch PWNED)" in line and
          line.index("it's $(touch PWNED)") < line.index("per model $(touch PWNED)"),
          f"the model's args reached its extract intact, after the study's: {line!r}")
    check(iv == "skip-ffn:0-0", f"the model's extract ran its intervention ({iv!r})")
with h5py.File(f"{out}/results.h5", "r") as f:
    check("llava_skip" in f and "nll" in f["llava_skip"] and "nll" not in f["llava"],
          "results: the caption NLL of the intervened model only")
pwned = [os.path.join(d, f) for d, _, fs in os.walk(TMP) for f in fs if f == "PWNED"]
check(not pwned, f"nothing in the spec ran as a command ({pwned})")
check(os.path.exists(f"{out}/results.h5") and os.path.exists(f"{out}/figures/index.md"), "results and figures")
status = study(spec, "--status").stdout
check(re.search(r"^llava\s+complete\s+25\s+24\s+1\s+0", status, re.M) is not None and
      re.search(r"^hostile\s+complete\s+25\s+25\s+0\s+0", status, re.M) is not None,
      "--status: both complete; the vlm failed the sample without its image, the text model did not")
check(re.search(r"^\s+failed lost: .*lost\.jpg", status, re.M) is not None, "--status: the failed sample and its error")

stamp = os.path.getmtime(f"{out}/results.h5")
r = study(spec, "--local")
check(r.returncode == 0 and "extract" not in r.stdout + r.stderr and os.path.getmtime(f"{out}/results.h5") == stamp,
      "a finished study has nothing left to run")
os.remove(f"{out}/archives/llava.h5")
r = study(spec, "--local")
check(r.returncode == 0 and "extract llava" in r.stdout and "extract hostile" not in r.stdout and
      os.path.getmtime(f"{out}/results.h5") > stamp, "a removed archive is extracted again, then analysis and figures")

print(f"{len(failures)} failures")
sys.exit(1 if failures else 0)
