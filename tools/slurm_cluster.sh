#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, to try and test the Slurm launcher
# (`--launcher slurm`) without a real cluster: CI starts it before the tests.
#
#   sudo tools/slurm_cluster.sh install   # Debian's slurm-wlm and munge (apt-get)
#   sudo tools/slurm_cluster.sh start     # install if missing, write slurm.conf, start
#   sudo tools/slurm_cluster.sh status    # the node as sinfo shows it; exit 1 if down
#   sudo tools/slurm_cluster.sh stop      # cancel every job, stop the daemons
#
# Debian or Ubuntu, as root. The node has this machine's memory and twice its cores
# (nproc) as job slots (below); accounting (sacct) is off, as on many small clusters.
# `start` and `stop` are idempotent. The configuration goes to /etc/slurm/slurm.conf; one
# that this script did not write is left alone (this is not for a machine that is already
# a Slurm node).
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARK="# written by tools/slurm_cluster.sh"
STATE=/var/spool/slurmctld
SPOOL=/var/spool/slurmd
LOGS=/var/log/slurm
RUN=/run/slurm-one-node
NODE=$(hostname -s)

# The project's one error prefix (errors.run_main prints "error: ..." too).
die() { echo "error: tools/slurm_cluster.sh: $*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" = 0 ] || die "run this as root (the daemons and apt-get need it)"
}

installed() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v sbatch >/dev/null && command -v munged >/dev/null
}

install() {
    need_root
    installed && return 0
    command -v apt-get >/dev/null || die "apt-get not found: this script knows Debian and Ubuntu"
    echo "installing slurm-wlm and munge with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        slurm-wlm munge >/dev/null \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
             apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null; }
}

write_conf() {
    if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        die "$CONF exists and was not written by this script; not touching it"
    fi
    local cpus mem_mb
    # Two job slots per core: the tests' jobs train with one thread for seconds and then
    # mostly wait (on a gate, on Slurm's time limit), and a waiting job should not keep
    # the others from starting. config_overrides: slurmd takes the node as configured
    # instead of draining it for having fewer cores than it claims.
    cpus=$((2 * $(nproc)))
    # A little below MemTotal: slurmd refuses a node that claims more than it has.
    mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.95)}' /proc/meminfo)
    mkdir -p "$(dirname "$CONF")" "$STATE" "$SPOOL" "$LOGS" "$RUN"
    local tmp="$CONF.tmp.$$"
    cat > "$tmp" <<EOF
$MARK: a one-node test cluster
ClusterName=onenode
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE
SlurmdSpoolDir=$SPOOL
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
# No cgroups needed: containers and CI runners often lack a writable cgroup tree.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
# A requeued job becomes eligible a few seconds after its requeue (cred_expire, below),
# and only a periodic pass of the scheduler starts it then: the main loop every 60 s and
# backfill every 30 s by default. Passes every 2 s on this one node start it within
# seconds (the main loop considers every pending job, cheap with a handful of them).
SchedulerParameters=sched_interval=2,bf_interval=2
MpiDefault=none
ReturnToService=2
# Jobs may be requeued (scontrol requeue, the launcher before a time limit).
JobRequeue=1
# No accounting: sacct has nothing to say, as on many small clusters.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Ended jobs stay visible to squeue and scontrol for 5 minutes.
MinJobAge=300
# Seconds between SIGTERM and SIGKILL when a job is cancelled, requeued or out of time.
KillWait=5
# A requeued job waits this credential lifetime before it may start again (120 s by
# default): short here, so that a requeue comes back within seconds.
AuthInfo=cred_expire=5
# A job that asks for no memory gets its share per CPU, not the whole node.
DefMemPerCPU=$((mem_mb / cpus))
SlurmdParameters=config_overrides
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    if cmp -s "$tmp" "$CONF"; then
        rm -f "$tmp"
        return 0
    fi
    # Daemons started with another configuration (an earlier version of this script, a
    # machine whose memory changed) would keep it: stop them, start them with this one.
    if pid_alive "$RUN/slurmctld.pid" || pid_alive "$RUN/slurmd.pid"; then
        echo "the configuration changed: restarting the cluster"
        stop >/dev/null
    fi
    mv "$tmp" "$CONF"
}

pid_alive() {  # pid_alive FILE: the process whose pid FILE holds is running
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: until COMMAND succeeds
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || die "gave up waiting for $what after ${seconds}s (logs: $LOGS)"
        sleep 0.5
    done
}

node_idle() {
    local state
    state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null) || return 1
    case "$state" in idle|mixed|allocated) return 0 ;; *) return 1 ;; esac
}

start() {
    need_root
    install
    write_conf
    # munge: the key the package created, or a new one.
    if [ ! -s /etc/munge/munge.key ]; then
        if command -v mungekey >/dev/null; then mungekey --create --force >/dev/null
        else dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; fi
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        runuser -u munge -- munged --pid-file=/run/munge/munged.pid
        wait_for 10 munged sh -c 'munge -n | unmunge'
    fi
    pid_alive "$RUN/slurmctld.pid" || slurmctld
    wait_for 30 slurmctld scontrol ping
    pid_alive "$RUN/slurmd.pid" || slurmd
    # A node that went down (daemons killed earlier) comes back on its own with
    # ReturnToService=2 once slurmd registers; resume it in case it was drained.
    scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
    wait_for 60 "node $NODE to be idle" node_idle
    echo "Slurm $(sinfo --version | awk '{print $2}') one-node cluster up: node $NODE," \
         "$(sinfo -h -n "$NODE" -o %c) job slots on $(nproc) cores; config $CONF"
}

stop() {
    need_root
    if command -v scancel >/dev/null && scontrol ping >/dev/null 2>&1; then
        # Every job of this throwaway cluster, whoever submitted it.
        squeue -h -o %i 2>/dev/null | xargs -r scancel --full --quiet 2>/dev/null || true
        # Let slurmd kill the jobs' processes before it stops itself.
        local deadline=$((SECONDS + 30))
        while [ -n "$(squeue -h -t running,completing -o %i 2>/dev/null)" ] \
                && [ "$SECONDS" -lt "$deadline" ]; do
            sleep 0.5
        done
    fi
    # The three daemons at once: each takes about 2 s to end (measured here), and none is
    # needed any more once the jobs are gone.
    local file pids=()
    for file in "$RUN/slurmd.pid" "$RUN/slurmctld.pid" /run/munge/munged.pid; do
        if pid_alive "$file"; then
            pids+=("$(cat "$file")")
        fi
    done
    if [ "${#pids[@]}" -gt 0 ]; then
        kill "${pids[@]}" 2>/dev/null || true
        local deadline=$((SECONDS + 20))
        while kill -0 "${pids[@]}" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
            sleep 0.1
        done
        kill -9 "${pids[@]}" 2>/dev/null || true
    fi
    echo "one-node Slurm cluster stopped"
}

status() {
    if ! command -v sinfo >/dev/null; then
        echo "Slurm is not installed (tools/slurm_cluster.sh install)"; return 1
    fi
    if ! scontrol ping >/dev/null 2>&1; then
        echo "no Slurm controller answers (tools/slurm_cluster.sh start)"; return 1
    fi
    sinfo --version
    sinfo -N -h -o "node %N: %T, %c CPUs, %m MB"
    node_idle
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "error: unknown command '${1:-}'; usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
