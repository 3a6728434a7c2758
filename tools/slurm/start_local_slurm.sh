#!/usr/bin/env bash
# Start a private single-node Slurm (munged + slurmctld + slurmd) for tests and for
# trying the recipe's `CS_BACKEND=slurm` on one machine. Needs root and the Debian
# packages slurmctld slurmd slurm-client munge (tools/install_system_deps.sh).
#
#   tools/slurm/start_local_slurm.sh DIR [CTLD_PORT [SLURMD_PORT]]
#   export SLURM_CONF=DIR/slurm.conf      # then sbatch/squeue/sinfo talk to it
#   tools/slurm/stop_local_slurm.sh DIR
#
# Everything lives under DIR (config, munge key and socket, state, spool, logs, pid
# files) and the daemons listen on non-default ports (default 16817/16818), so it does
# not clash with a system Slurm or another instance started with another DIR and ports.
# No systemd and no cgroups (containers): ProctrackType=proctrack/linuxproc,
# TaskPlugin=task/none. The node gets every CPU of `nproc`. Waits until `sinfo` shows
# the node idle; on failure prints the daemon logs and exits 1.
set -euo pipefail

dir=${1:?usage: $0 DIR [CTLD_PORT [SLURMD_PORT]]}
ctld_port=${2:-16817}
slurmd_port=${3:-16818}
for b in munged slurmctld slurmd sinfo scontrol; do
  command -v "$b" >/dev/null || { echo "start_local_slurm: '$b' not found; apt-get install -y slurmctld slurmd slurm-client munge" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "start_local_slurm: slurmd must run as root (it starts jobs as their user)" >&2; exit 1; }

mkdir -p "${dir}"
dir=$(cd "${dir}" && pwd)
# munged refuses group/world-writable directories on the key and socket paths.
host=$(hostname -s)
install -d -m 0700 "${dir}/state" "${dir}/spool" "${dir}/spool/slurmd.${host}" "${dir}/log"
# the key stays 0400 inside; clients need to traverse the directory to reach the socket
install -d -m 0711 "${dir}/munge"
chmod 0755 "${dir}"
if [ -f "${dir}/slurmctld.pid" ] && kill -0 "$(cat "${dir}/slurmctld.pid")" 2>/dev/null; then
  echo "start_local_slurm: already running in ${dir} (stop it with stop_local_slurm.sh ${dir})" >&2
  exit 1
fi

# --- munge: private key and socket (slurm.conf AuthInfo points Slurm at the socket) ---
sock=${dir}/munge/munge.socket
[ -f "${dir}/munge/munge.key" ] || { head -c 1024 /dev/urandom > "${dir}/munge/munge.key"; chmod 0400 "${dir}/munge/munge.key"; }
munged --force --socket="${sock}" --key-file="${dir}/munge/munge.key" \
  --pid-file="${dir}/munge/munged.pid" --log-file="${dir}/log/munged.log" \
  --seed-file="${dir}/munge/munged.seed"

# --- slurm.conf ---
cpus=$(nproc)
# RealMemory in MB, leaving 1 GB to the system; jobs asking --mem above it stay pending.
mem=$(awk '/MemTotal/ {m = int($2 / 1024) - 1024; print (m > 512 ? m : 512)}' /proc/meminfo)
cat > "${dir}/slurm.conf" <<CONF
# Written by tools/slurm/start_local_slurm.sh: single node, private dir ${dir}
ClusterName=csext
SlurmctldHost=${host}(127.0.0.1)
SlurmctldPort=${ctld_port}
SlurmdPort=${slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=${sock}
StateSaveLocation=${dir}/state
SlurmdSpoolDir=${dir}/spool/slurmd.%n
SlurmctldPidFile=${dir}/slurmctld.pid
SlurmdPidFile=${dir}/slurmd.pid
SlurmctldLogFile=${dir}/log/slurmctld.log
SlurmdLogFile=${dir}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# containers: no cgroup plugins
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# keep finished jobs visible to scontrol for 10 minutes (the launcher reads their state)
MinJobAge=600
MaxArraySize=10001
KillWait=5
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=local Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=${dir}/slurm.conf

slurmctld -f "${SLURM_CONF}" -i
slurmd -f "${SLURM_CONF}"

for _ in $(seq 1 60); do
  state=$(sinfo -h -N -n "${host}" -o '%T' 2>/dev/null || true)
  if [ "${state}" = idle ]; then
    echo "start_local_slurm: node ${host} idle (${cpus} CPUs); export SLURM_CONF=${SLURM_CONF}"
    exit 0
  fi
  sleep 0.5
done
echo "start_local_slurm: node did not become idle (sinfo state: '${state:-none}'); logs:" >&2
tail -n 30 "${dir}"/log/*.log >&2 || true
exit 1
