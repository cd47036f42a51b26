#!/usr/bin/env bash
# Start a throwaway single-node Slurm cluster on localhost, everything under $SLURM_ROOT (default
# /tmp/featbench-slurm): slurmctld, slurmd and, for `sacct` (submitit needs it to see jobs that Slurm killed),
# slurmdbd on a private MariaDB. auth/none (Debian 12's Slurm 22.05 has it). Needs root and Debian's
# slurm-wlm, slurmdbd and mariadb-server (tests/slurm/install-slurm.sh). Afterwards:
#   export SLURM_CONF=$SLURM_ROOT/etc/slurm.conf
# Stop it with tests/slurm/stop-slurm.sh (by the PIDs in $SLURM_ROOT/run). After the verified recipe in the
# project's shared notes (slurm-recipe.md).
set -euo pipefail
R=${SLURM_ROOT:-/tmp/featbench-slurm}
mkdir -p "$R"/{etc,state,spool,log,run}
export SLURM_CONF=$R/etc/slurm.conf
CPUS=$(nproc)
MEM=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
MEM=$(( MEM > 1024 ? MEM - 512 : MEM ))

cat > "$SLURM_CONF" <<CONF
ClusterName=featbench
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
MailProg=/bin/true
KillWait=5
StateSaveLocation=$R/state
SlurmdSpoolDir=$R/spool
SlurmctldPidFile=$R/run/slurmctld.pid
SlurmdPidFile=$R/run/slurmd.pid
SlurmctldLogFile=$R/log/slurmctld.log
SlurmdLogFile=$R/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=localhost CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
CONF

wait_for() {  # wait_for SECONDS CMD...   (each try capped at 5 s)
  local end=$(( SECONDS + $1 )); shift
  while [ "$SECONDS" -lt "$end" ]; do timeout 5 "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "timed out waiting for: $*" >&2; return 1
}

if [ ! -d "$R/mysql/mysql" ]; then
  mariadb-install-db --no-defaults --datadir="$R/mysql" --user=root \
      --auth-root-authentication-method=normal --skip-test-db > "$R/log/mariadb-install.log" 2>&1
fi
setsid mariadbd --no-defaults --datadir="$R/mysql" --user=root --skip-name-resolve \
    --bind-address=127.0.0.1 --port=3307 --socket="$R/run/mysql.sock" \
    --pid-file="$R/run/mariadb.pid" --log-error="$R/log/mariadb.err" </dev/null >/dev/null 2>&1 &
wait_for 30 mariadb -S "$R/run/mysql.sock" -u root -e 'select 1'
mariadb -S "$R/run/mysql.sock" -u root -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
cat > "$R/etc/slurmdbd.conf" <<CONF
AuthType=auth/none
DbdHost=localhost
DbdPort=6819
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3307
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
PidFile=$R/run/slurmdbd.pid
LogFile=$R/log/slurmdbd.log
DebugLevel=info
CONF
chmod 600 "$R/etc/slurmdbd.conf"
slurmdbd
wait_for 30 sacctmgr -n show cluster
slurmctld
slurmd -N localhost
wait_for 60 bash -c '[ "$(sinfo -h -n localhost -o %T)" = idle ]'
