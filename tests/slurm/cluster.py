"""cluster.py — the single-node Slurm of slurm/cluster-start.sh for Python tests: start it in a
folder, run Slurm commands against it, wait for jobs, stop it by pid files (always, via
`with SlurmCluster(dir) as c:`). Skips the test (exit 77) where Slurm is not installed or we are
not root (slurmd runs jobs as root here)."""
import os
import shutil
import subprocess
import sys
import time

SOURCE = os.environ.get("STRATA_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def skip_unless_possible():
    have = all(shutil.which(t) or os.path.exists("/usr/sbin/" + t) for t in ("slurmctld", "slurmd", "sbatch"))
    if not have:
        print("SKIP: slurmctld/slurmd/sbatch not installed (Debian: slurm-wlm)")
        sys.exit(77)
    if os.geteuid() != 0:
        print("SKIP: the test cluster runs its daemons as root")
        sys.exit(77)


class SlurmCluster:
    def __init__(self, folder):
        self.dir = os.path.abspath(folder)
        self.conf = os.path.join(self.dir, "slurm.conf")

    def __enter__(self):
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        t0 = time.time()
        r = subprocess.run([os.path.join(SOURCE, "slurm", "cluster-start.sh"), self.dir],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.__exit__(None, None, None)
            raise RuntimeError("cluster-start.sh failed:\n" + r.stdout + r.stderr)
        self.start_seconds = time.time() - t0
        os.environ["SLURM_CONF"] = self.conf
        return self

    def __exit__(self, *exc):
        subprocess.run([os.path.join(SOURCE, "slurm", "cluster-stop.sh"), self.dir])
        for daemon in ("slurmctld", "slurmd"):
            pid_file = os.path.join(self.dir, daemon + ".pid")
            if os.path.exists(pid_file):
                pid = int(open(pid_file).read().strip() or 0)
                assert not os.path.exists(f"/proc/{pid}") or \
                    open(f"/proc/{pid}/comm").read().strip() != daemon, f"{daemon} still running"
        return False

    def run(self, *cmd):
        return subprocess.run(list(cmd), capture_output=True, text=True, check=True).stdout

    def job_field(self, job, field):
        """A field of `scontrol show job` (JobState, Restarts, ExitCode, ...); None if unknown."""
        r = subprocess.run(["scontrol", "-o", "show", "job", str(job)], capture_output=True, text=True)
        if r.returncode != 0:
            return None
        for word in r.stdout.split():
            if word.startswith(field + "="):
                return word.split("=", 1)[1]
        return None

    def queued(self):
        return self.run("squeue", "-h", "-o", "%i %T %r").split("\n")[:-1]

    def wait_idle(self, timeout):
        """Wait until no job is queued or running; return the seconds waited. Fails at once
        when what is left can never run (a dependency failed)."""
        t0 = time.time()
        while True:
            left = self.queued()
            if not left:
                break
            if all(line.endswith("DependencyNeverSatisfied") for line in left):
                raise RuntimeError("a job failed; left waiting forever: %s" % left)
            if time.time() - t0 > timeout:
                raise TimeoutError("jobs still queued after %.0f s: %s" % (timeout, self.queued()))
            time.sleep(0.5)
        return time.time() - t0

    def log_tail(self):
        out = []
        for name in ("slurmctld.log", "slurmd.log"):
            path = os.path.join(self.dir, "log", name)
            if os.path.exists(path):
                out.append(f"--- {name}\n" + "".join(open(path).readlines()[-30:]))
        return "\n".join(out)
