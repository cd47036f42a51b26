#!/usr/bin/env bash
# Stop what start-slurm.sh started, by the PIDs in its pid files (SIGTERM, then SIGKILL after 15 s).
R=${SLURM_ROOT:-/tmp/featbench-slurm}
pids=()
for d in slurmd slurmctld slurmdbd mariadb munged; do
  f=$R/run/$d.pid
  [ -s "$f" ] || continue
  pid=$(cat "$f"); rm -f "$f"
  kill "$pid" 2>/dev/null && pids+=("$pid")
done
for _ in $(seq 150); do
  alive=0; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && exit 0; sleep 0.1
done
for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
exit 0
