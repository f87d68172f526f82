#!/bin/bash
# slurm/cluster-stop.sh — stop the test cluster that slurm/cluster-start.sh started in DIR:
# signal slurmd and slurmctld by their pid files, wait for both to exit (slurmctld takes a few
# seconds), SIGKILL what is left after 20 s. Safe to call twice or on a half-started cluster.
#   slurm/cluster-stop.sh DIR
set -uo pipefail
dir=${1:?usage: cluster-stop.sh DIR}
pids=()
for daemon in slurmd slurmctld; do
  pidfile="$dir/$daemon.pid"
  [ -s "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  # Only a process that really is this daemon (pid files can be stale).
  if [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$daemon" ]; then
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
  fi
done
for _ in $(seq 200); do
  alive=()
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive+=("$pid"); done
  [ ${#alive[@]} = 0 ] && exit 0
  sleep 0.1
done
echo "cluster-stop: still running after 20 s, killing: ${alive[*]}" >&2
kill -KILL "${alive[@]}" 2>/dev/null
exit 0
