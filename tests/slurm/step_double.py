"""step_double.py — a stand-in for `strata extract|analyze|figures` that follows their contracts
with the job scripts (arguments, the .partial archive renamed when complete, a clean flush and
exit 75 on SIGUSR1/SIGTERM, resume from the .partial) and is slow on purpose, so that the Slurm
machinery of `strata study` (arrays, dependencies, requeue, reruns) can be tested at a chosen
pace. The real commands are tested end to end in test_slurm_demo.py; this file never stands in
for them there. Every call is appended to $STEP_DOUBLE_LOG as a JSON line.

    step_double.py extract --model DIR --data MANIFEST --out A.h5 [...]   (ROUND_SECONDS env)
    step_double.py analyze A.h5 [B.h5 ...] --out results.h5 [...]
    step_double.py figures results.h5 --out DIR [...]
"""
import json
import os
import signal
import sys
import time

import h5py
import numpy as np

ROUNDS = 6


def log(record):
    path = os.environ.get("STEP_DOUBLE_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")


def option(args, name):
    return args[args.index(name) + 1] if name in args else None


def extract(args):
    out = option(args, "--out")
    with open(option(args, "--data")) as f:
        n = sum(1 for line in f if line.strip())
    stop = []
    signal.signal(signal.SIGUSR1, lambda s, _: stop.append(s))
    signal.signal(signal.SIGTERM, lambda s, _: stop.append(s))
    partial = out + ".partial"
    resumed_at = 0
    if os.path.exists(partial):
        with h5py.File(partial, "r") as f:
            resumed_at = int(f["progress/round_done"][:].sum())
    else:
        with h5py.File(partial, "w") as f:
            f.attrs["format"] = "strata-activations"
            f.attrs["complete"] = np.int32(0)
            f.create_dataset("samples/status", data=np.zeros(n, np.int8))
            f.create_dataset("progress/round_done", data=np.zeros(ROUNDS, np.uint8))
    log({"step": "extract", "out": out, "args": args, "resumed_at": resumed_at,
         "job": os.environ.get("SLURM_JOB_ID"), "restart": os.environ.get("SLURM_RESTART_COUNT")})
    per_round = -(-n // ROUNDS)
    for r in range(resumed_at, ROUNDS):
        time.sleep(float(os.environ.get("ROUND_SECONDS", "0.2")))
        with h5py.File(partial, "r+") as f:
            f["samples/status"][r * per_round:(r + 1) * per_round] = 1
            f["progress/round_done"][r] = 1
        if stop:
            log({"step": "extract", "out": out, "stopped_after_round": r, "signal": stop[0]})
            return 75
    with h5py.File(partial, "r+") as f:
        f.attrs["complete"] = np.int32(1)
    os.rename(partial, out)
    return 0


def analyze(args):
    out = option(args, "--out")
    archives = [a for i, a in enumerate(args) if a.endswith(".h5") and args[i - 1] != "--out"]
    for a in archives:
        with h5py.File(a, "r") as f:
            if int(f.attrs["complete"]) != 1:
                print(f"analyze double: {a} is not complete", file=sys.stderr)
                return 1
    with h5py.File(out, "w") as f:
        f.attrs["format"] = "strata-results"
        f.attrs["inputs"] = json.dumps(archives)
    log({"step": "analyze", "archives": archives, "args": args})
    return 0


def figures(args):
    out = option(args, "--out")
    with h5py.File(args[0], "r") as f:
        assert f.attrs["format"] == "strata-results"
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "index.md"), "w") as f:
        f.write("# figures\n")
    log({"step": "figures", "args": args})
    return 0


if __name__ == "__main__":
    step, rest = sys.argv[1], sys.argv[2:]
    sys.exit({"extract": extract, "analyze": analyze, "figures": figures}[step](rest))
