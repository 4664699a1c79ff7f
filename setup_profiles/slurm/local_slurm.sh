#!/usr/bin/env bash
# A SLURM cluster of one machine, to try the templates of this folder without a real cluster (and
# for tests): munge, slurmctld and slurmd, all state in DIR, partitions `cpu` (default) and `gpu`
# with one fake GPU (scheduling only: there is no device behind it). MPI programs start under
# `srun` through PMIx, as on most clusters. Needs root and Debian's slurmctld, slurmd,
# slurm-client, munge and libpmix-dev packages.
# Usage: local_slurm.sh check          exit 1, saying what is missing, if it cannot start
#        local_slurm.sh start DIR      then: export SLURM_CONF=DIR/slurm.conf; sbatch ...
#        local_slurm.sh stop DIR
set -euo pipefail

PACKAGES='slurmctld slurmd slurm-client munge libpmix-dev'

usage() { echo "usage: $0 check | start DIR | stop DIR" >&2; exit 2; }

check() {
    local program missing=()
    for program in munged mungekey slurmctld slurmd sinfo sbatch; do
        command -v "$program" >/dev/null || missing+=("$program")
    done
    # slurm's mpi/pmix plugin loads the unversioned libpmix.so, which only libpmix-dev installs.
    [[ $(ldconfig -p) == *$'\tlibpmix.so '* ]] || missing+=(libpmix.so)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "missing: ${missing[*]} (apt-get install $PACKAGES)" >&2
        return 1
    fi
    [ "$(id -u)" -eq 0 ] || { echo 'slurmd must run as root' >&2; return 1; }
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    check
    mkdir -p "$dir/munge" "$dir/state" "$dir/spool"
    chmod 700 "$dir/munge"
    [ -f "$dir/munge/munge.key" ] || mungekey --create --keyfile="$dir/munge/munge.key"
    munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
        --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed"

    cat >"$dir/gres.conf" <<EOF
AutoDetect=off
NodeName=localhost Name=gpu File=/dev/null
EOF
    cat >"$dir/slurm.conf" <<EOF
ClusterName=mlipgen-local
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
GresTypes=gpu
ReturnToService=2
# A job past its time limit gets SIGTERM, then SIGKILL after KillWait seconds (default 30).
KillWait=5
MpiDefault=pmix
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF=$dir/slurm.conf
    slurmctld -i
    slurmd -N localhost
    for _ in $(seq 60); do
        if sinfo -h -N -o '%t' 2>/dev/null | grep -qx idle; then
            echo "local SLURM running: export SLURM_CONF=$SLURM_CONF"
            return
        fi
        sleep 0.5
    done
    echo "local SLURM did not come up; see $dir/slurmctld.log and $dir/slurmd.log" >&2
    exit 1
}

stop() {
    local pidfile
    for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
        [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
}

case "${1:-}" in
    check) [ $# -eq 1 ] || usage; check ;;
    start | stop)
        [ $# -eq 2 ] || usage
        dir=$(mkdir -p "$2" && cd "$2" && pwd -P)
        "$1"
        ;;
    *) usage ;;
esac
