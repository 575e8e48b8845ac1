#!/usr/bin/env bash
# Usage: scripts/docker.sh
# Installs Debian's docker.io and runsc (gVisor) if missing, registers runsc
# with dockerd (runtime name "runsc", no network inside the sandbox), and makes
# sure dockerd runs (started in the background when `docker info` fails; log in
# $LABQUEUE_VAR/log/dockerd.log). Without systemd: dockerd is a plain process.
# When daemon.json changed, a running dockerd is reloaded (SIGHUP: runtimes are
# live-reloadable); if the runtime still doesn't show up it is stopped
# gracefully and started again.
# Then it makes sure the labqueue-disk volume plugin runs (consumer/disk_plugin.py:
# every job's /job is a loop-mounted filesystem of the job's disk_limit; log in
# $LABQUEUE_VAR/log/disk-plugin.log), restarting it when its code changed, and
# checks that a size-capped volume can be made.
# Env: LABQUEUE_DOCKER_START_TIMEOUT (default 90 s);
#      LABQUEUE_DISK_PLUGIN_ROOT (where the volumes' images live, default
#      /var/lib/labqueue-disk; on the filesystem the free-disk reserve guards).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root

DAEMON_JSON=/etc/docker/daemon.json
LOG=$LABQUEUE_VAR/log/dockerd.log
TIMEOUT=${LABQUEUE_DOCKER_START_TIMEOUT:-90}

# Debian's client is /usr/bin/docker; another client earlier on PATH is fine too.
docker() { command docker "$@"; }

apt_install docker.io runsc iptables python3 e2fsprogs util-linux

# cgroups: a machine without an init that mounts them needs cgroupfs-mount.
if ! mountpoint -q /sys/fs/cgroup; then
    apt_install cgroupfs-mount
    step "mounting cgroups"
    cgroupfs-mount
fi

# --- daemon.json: merge our runtime in, keep every other key -------------
mkdir -p /etc/docker
changed="$(python3 - "$DAEMON_JSON" <<'EOF'
import json, os, sys
path = sys.argv[1]
try:
    with open(path) as f:
        text = f.read()
    cfg = json.loads(text) if text.strip() else {}
except FileNotFoundError:
    cfg = {}
want = {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]}
if cfg.setdefault("runtimes", {}).get("runsc") == want:
    print("no")
else:
    cfg["runtimes"]["runsc"] = want
    tmp = path + ".labqueue-tmp"
    with open(tmp, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)
    print("yes")
EOF
)"
[[ $changed == yes ]] && step "registered runtime runsc in $DAEMON_JSON"

dockerd_pid() {
    local pid
    pid="$(cat /var/run/docker.pid 2>/dev/null || true)"
    if [[ -n $pid ]] && pid_alive "$pid" && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == dockerd ]]; then
        echo "$pid"; return
    fi
    local comm name
    for comm in /proc/[0-9]*/comm; do
        { read -r name <"$comm"; } 2>/dev/null || continue
        pid=${comm#/proc/}; pid=${pid%/comm}
        if [[ $name == dockerd ]] && pid_alive "$pid"; then echo "$pid"; return; fi
    done
    return 0
}

has_runsc() {
    docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc"'
}

wait_docker() {
    local start=$SECONDS
    until docker info >/dev/null 2>&1; do
        if (( SECONDS - start >= TIMEOUT )); then
            tail -n 30 "$LOG" >&2 || true
            die "dockerd did not answer within ${TIMEOUT}s (log: $LOG)"
        fi
        sleep 0.5
    done
}

start_dockerd() {
    step "starting dockerd (log: $LOG)"
    ulimit -n 1048576 2>/dev/null || true
    # setsid: its own session, so it outlives this script and its terminal.
    setsid nohup /usr/sbin/dockerd >>"$LOG" 2>&1 </dev/null &
    wait_docker
}

stop_dockerd() {
    local pid=$1 start=$SECONDS
    step "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    while pid_alive "$pid"; do
        if (( SECONDS - start >= TIMEOUT )); then die "dockerd (pid $pid) did not stop within ${TIMEOUT}s"; fi
        sleep 0.5
    done
}

if docker info >/dev/null 2>&1; then
    if ! has_runsc; then
        pid="$(dockerd_pid)"
        [[ -n $pid ]] || die "docker answers but no local dockerd process found; register runsc in its daemon.json by hand"
        step "reloading dockerd configuration (pid $pid)"
        kill -HUP "$pid"
        for _ in $(seq 20); do has_runsc && break; sleep 0.25; done
        if ! has_runsc; then
            stop_dockerd "$pid"
            start_dockerd
        fi
    fi
else
    pid="$(dockerd_pid)"
    if [[ -n $pid ]]; then
        # a dockerd that doesn't answer: maybe still starting up
        step "waiting for dockerd (pid $pid)"
        wait_docker
    else
        start_dockerd
    fi
fi
has_runsc || die "dockerd runs but has no runsc runtime; see $LOG"

# --- the labqueue-disk volume plugin ---------------------------------------
PLUGIN=$LABQUEUE_ROOT/consumer/disk_plugin.py
PLUGIN_RUN=/run/labqueue-disk
PLUGIN_LOG=$LABQUEUE_VAR/log/disk-plugin.log
PLUGIN_ROOT=${LABQUEUE_DISK_PLUGIN_ROOT:-/var/lib/labqueue-disk}
mkdir -p "$PLUGIN_RUN"
want="$(sha256_of "$PLUGIN") $PLUGIN_ROOT"
pid="$(cat "$PLUGIN_RUN/pid" 2>/dev/null || true)"
if [[ -n $pid ]] && pid_alive "$pid" && grep -q disk_plugin "/proc/$pid/cmdline" 2>/dev/null; then
    if [[ "$(cat "$PLUGIN_RUN/version" 2>/dev/null)" != "$want" ]]; then
        step "restarting the disk plugin (its code or root changed; volumes stay mounted)"
        kill -TERM "$pid"
        while pid_alive "$pid"; do sleep 0.1; done
        pid=""
    fi
else
    pid=""
fi
if [[ -z $pid ]]; then
    step "starting the labqueue-disk volume plugin (log: $PLUGIN_LOG)"
    setsid nohup python3 "$PLUGIN" --root "$PLUGIN_ROOT" >>"$PLUGIN_LOG" 2>&1 </dev/null &
    echo $! >"$PLUGIN_RUN/pid"
    echo "$want" >"$PLUGIN_RUN/version"
fi
probe="labqueue-disk-probe-$$"
for _ in $(seq 50); do [[ -S /run/docker/plugins/labqueue-disk.sock ]] && break; sleep 0.1; done
docker volume create --driver labqueue-disk --opt size=16m "$probe" >/dev/null || die "no size-capped volume could be made; see $PLUGIN_LOG"
docker volume rm "$probe" >/dev/null
step "disk plugin ready (job volumes under $PLUGIN_ROOT)"

# --- gVisor smoke test, once an image of ours exists ------------------------
img="$(docker images --format '{{.Repository}}:{{.Tag}}' 'labqueue/worker-*' 2>/dev/null | head -n1 || true)"
if [[ -n $img ]]; then
    if out="$(docker run --rm --runtime=runsc --network=none "$img" true 2>&1)"; then
        step "docker ready (runtimes runc, runsc; runsc checked with $img)"
    else
        printf '%s\n' "$out" >&2
        die "docker run --runtime=runsc $img failed"
    fi
else
    step "docker ready (runtimes runc, runsc; runsc check skipped: no labqueue image yet, run scripts/images.sh)"
fi
