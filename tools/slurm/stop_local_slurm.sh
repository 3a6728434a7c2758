#!/usr/bin/env bash
# Stop the private Slurm started by start_local_slurm.sh DIR: cancel its jobs, stop
# slurmd, slurmctld and munged by the pid files under DIR (only those processes).
#
#   tools/slurm/stop_local_slurm.sh DIR
set -uo pipefail

dir=${1:?usage: $0 DIR}
[ -d "${dir}" ] || exit 0
export SLURM_CONF=${dir}/slurm.conf

stop_pid() {  # stop_pid PIDFILE: TERM, wait up to 10 s, then KILL
  local f=$1 pid
  [ -f "${f}" ] || return 0
  pid=$(cat "${f}")
  [ -n "${pid}" ] && kill -0 "${pid}" 2>/dev/null || { rm -f "${f}"; return 0; }
  kill -TERM "${pid}" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.2; done
  kill -0 "${pid}" 2>/dev/null && kill -KILL "${pid}" 2>/dev/null
  rm -f "${f}"
}

if [ -f "${SLURM_CONF}" ] && [ -f "${dir}/slurmctld.pid" ]; then
  # Jobs first, so no job step outlives the daemons.
  scancel --full --quiet --partition=local 2>/dev/null || true
  for _ in $(seq 1 25); do
    [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
    sleep 0.2
  done
fi
stop_pid "${dir}/slurmd.pid"
stop_pid "${dir}/slurmctld.pid"
stop_pid "${dir}/munge/munged.pid"
exit 0
