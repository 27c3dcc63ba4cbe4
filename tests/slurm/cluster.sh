#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for tests/slurm (make test-slurm):
#   tests/slurm/cluster.sh install   Debian's slurmctld, slurmd and munge (root, apt)
#   tests/slurm/cluster.sh start     a minimal slurm.conf for this host, then munged, slurmctld, slurmd
#   tests/slurm/cluster.sh stop
# Everything lives under $SLURM_TEST_DIR (default /tmp/cartoonlab-slurm).
set -euo pipefail
dir="${SLURM_TEST_DIR:-/tmp/cartoonlab-slurm}"
host="$(hostname -s)"
case "${1:-}" in
install)
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && exit 0
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || { echo "cannot install SLURM: needs root and apt-get"; exit 1; }
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge) >/dev/null
    ;;
start)
    mkdir -p "$dir/state" "$dir/spool" /etc/slurm /run/munge /var/log/munge /var/lib/munge
    [ -s /etc/munge/munge.key ] || { mkdir -p /etc/munge; dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
    chmod 400 /etc/munge/munge.key
    pgrep -x munged >/dev/null || munged --force
    cpus=$(nproc); mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
    cat > /etc/slurm/slurm.conf <<CONF
ClusterName=cartoonlab-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
MinJobAge=3600
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    pgrep -x slurmctld >/dev/null || slurmctld
    pgrep -x slurmd >/dev/null || slurmd
    for _ in $(seq 30); do sinfo -h -o %T 2>/dev/null | grep -qE "idle|mix|alloc" && exit 0; sleep 1; done
    echo "SLURM did not come up: see $dir/slurmctld.log and $dir/slurmd.log"; exit 1
    ;;
stop)
    scancel --user="$(id -un)" 2>/dev/null || true
    pkill -x slurmd || true; pkill -x slurmctld || true; pkill -x munged || true
    ;;
*) echo "usage: $0 install|start|stop"; exit 2 ;;
esac
