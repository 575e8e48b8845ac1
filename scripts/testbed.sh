#!/usr/bin/env bash
# Usage: scripts/testbed.sh up [N] | down [--purge] | env | exec HOST CMD... | load HOST IMAGE...
# A test bed of N worker hosts (default 2, or LABQUEUE_TESTBED_HOSTS) on this
# one machine, for tests/multihost:
#   - a bridge lqtb0 with the main host's address 10.77.0.1/24
#     (LABQUEUE_TESTBED_NET=10.77.0 picks another /24), and one iptables rule
#     letting frames from lqtb0 to lqtb0 through the machine's FORWARD chain;
#   - hosts w1..wN: each a network namespace lqtb-wN joined to the bridge by a
#     veth pair (lqtb-wN here, eth0 there, address 10.77.0.1N), with no route
#     beyond the bridge: all their traffic stays on this machine;
#   - on each host its own dockerd (data root, exec root, pid file, socket
#     under $LABQUEUE_VAR/testbed/wN; its bridge and iptables rules in its own
#     namespace, never touching the machine's docker0) and its own
#     labqueue-disk volume plugin, in a mount namespace of the host's own.
# Nothing here listens anywhere: the tests start the main host's servers on
# 10.77.0.1 themselves.
#   up     makes what is missing (idempotent); on failure removes everything
#   down   stops each host's processes, removes namespaces, links, the bridge,
#          its iptables rule and the hosts' state but their images (kept to make the next up
#          quick); --purge removes those too
#   env    prints the test bed's addresses and sockets as KEY=VALUE lines
#   exec   runs CMD on HOST (its network, its host name, DOCKER_HOST its dockerd)
#   load   copies images from this machine's dockerd into HOST's (skips those
#          it has already)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NET=${LABQUEUE_TESTBED_NET:-10.77.0}
BRIDGE=lqtb0
STATE=$LABQUEUE_VAR/testbed
TIMEOUT=${LABQUEUE_DOCKER_START_TIMEOUT:-90}
FORWARD_RULE=(-i "$BRIDGE" -o "$BRIDGE" -m comment --comment labqueue-testbed -j ACCEPT)

host_dir() { echo "$STATE/$1"; }
host_ns() { echo "lqtb-$1"; }
host_addr() { echo "$NET.1${1#w}"; }
host_socket() { echo "$(host_dir "$1")/docker.sock"; }
host_docker() { command docker --host "unix://$(host_socket "$1")" "${@:2}"; }
known_hosts() {
    local d
    for d in "$STATE"/w*/; do if [[ -d $d ]]; then basename "$d"; fi; done
    ip netns list 2>/dev/null | awk '$1 ~ /^lqtb-w[0-9]+$/ {sub("lqtb-", "", $1); print $1}'
}
check_host() { [[ $1 =~ ^w[1-9]$ ]] || die "no such host $1 (hosts are w1..w9)"; }

ensure_bridge() {
    if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
        # another interface with an address in our /24 would make the bed's traffic leave through it
        if ip -o -4 addr show | awk '{print $4}' | grep -q "^$NET\."; then
            die "$NET.0/24 is in use on this machine; pick another with LABQUEUE_TESTBED_NET"
        fi
        ip link add "$BRIDGE" type bridge
        step "bridge $BRIDGE made"
    fi
    ip addr replace "$NET.1/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    # Bridged frames pass the machine's FORWARD chain (br_netfilter), whose policy Docker sets to DROP: let hosts
    # talk to each other on the bridge, and only there.
    iptables -C FORWARD "${FORWARD_RULE[@]}" 2>/dev/null || iptables -I FORWARD 1 "${FORWARD_RULE[@]}"
}

ensure_link() {
    local h=$1 ns veth
    ns="$(host_ns "$h")" veth="$(host_ns "$h")"
    ip netns list | awk '{print $1}' | grep -qx "$ns" || ip netns add "$ns"
    if ! ip link show "$veth" >/dev/null 2>&1; then
        ip link add "$veth" type veth peer name eth0 netns "$ns"
    fi
    ip link set "$veth" master "$BRIDGE" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr replace "$(host_addr "$h")/24" dev eth0
    ip -n "$ns" link set eth0 up
}

docker_answers() { host_docker "$1" info >/dev/null 2>&1; }

# host_main HOST — run inside the host's network, mount and UTS namespaces (see ensure_dockerd): its host name, a
# /sys of its own network namespace (the machine's cgroups kept in it), its own plugin directory, then its dockerd.
host_main() {
    local h=$1 dir
    dir="$(host_dir "$h")"
    hostname "lqtb-$h"
    mkdir -p "$dir/cgroup" "$dir/plugins" "$dir/disk"
    mount --rbind /sys/fs/cgroup "$dir/cgroup"
    mount -t sysfs sysfs /sys
    mount --rbind "$dir/cgroup" /sys/fs/cgroup
    umount -l "$dir/cgroup"
    mkdir -p /run/docker/plugins
    mount --bind "$dir/plugins" /run/docker/plugins
    setsid python3 "$LABQUEUE_ROOT/consumer/disk_plugin.py" --root "$dir/disk" >>"$dir/disk-plugin.log" 2>&1 </dev/null &
    write_pidfile "$dir/disk-plugin.pid" $!
    ulimit -n 1048576 2>/dev/null || true
    exec dockerd --config-file="$dir/daemon.json" --data-root="$dir/data" --exec-root="$dir/exec" \
        --pidfile="$dir/docker.pid" --host="unix://$(host_socket "$h")" --iptables=true --ip6tables=false
}

ensure_dockerd() {
    local h=$1 dir ns start=$SECONDS
    dir="$(host_dir "$h")" ns="$(host_ns "$h")"
    docker_answers "$h" && return 0
    mkdir -p "$dir"
    # the machine's daemon.json may name sockets or settings of its own dockerd: each host has its own
    if [[ -x /usr/bin/runsc ]]; then
        echo '{"runtimes": {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]}}}' >"$dir/daemon.json"
    else
        echo '{}' >"$dir/daemon.json"
    fi
    rm -rf "$dir/exec" "$dir/plugins"
    step "starting dockerd on $h (log: $dir/dockerd.log)"
    setsid nsenter --net="/run/netns/$ns" -- unshare --mount --uts --propagation private -- \
        "$LABQUEUE_ROOT/scripts/testbed.sh" _host "$h" >>"$dir/dockerd.log" 2>&1 </dev/null &
    until docker_answers "$h"; do
        if (( SECONDS - start >= TIMEOUT )); then
            tail -n 30 "$dir/dockerd.log" >&2 || true
            die "dockerd on $h did not answer within ${TIMEOUT}s (log: $dir/dockerd.log)"
        fi
        sleep 0.5
    done
    local probe="labqueue-disk-probe-$$"
    for _ in $(seq 50); do [[ -S $dir/plugins/labqueue-disk.sock ]] && break; sleep 0.1; done
    host_docker "$h" volume create --driver labqueue-disk --opt size=16m "$probe" >/dev/null ||
        die "no size-capped volume on $h; see $dir/disk-plugin.log"
    host_docker "$h" volume rm "$probe" >/dev/null
}

cmd_up() {
    local n=${1:-${LABQUEUE_TESTBED_HOSTS:-2}} i
    [[ $n =~ ^[1-9]$ ]] || die "up takes a number of hosts from 1 to 9, not $n"
    need_root
    trap 'step "up failed: removing the test bed"; cmd_down' ERR
    mkdir -p "$STATE"
    ensure_bridge
    for i in $(seq "$n"); do
        ensure_link "w$i"
        ensure_dockerd "w$i"
    done
    trap - ERR
    step "test bed up: main host $NET.1 on $BRIDGE; hosts $(for i in $(seq "$n"); do printf 'w%s=%s ' "$i" "$(host_addr "w$i")"; done)"
}

# kill_in HOST — every process left in the host's network namespace, and its containers' shims and processes.
kill_in() {
    local h=$1 ns pid child dir
    ns="$(host_ns "$h")" dir="$(host_dir "$h")"
    local pids=()
    if ip netns list | awk '{print $1}' | grep -qx "$ns"; then
        mapfile -t pids < <(ip netns pids "$ns")
    fi
    for pid in /proc/[0-9]*; do
        pid=${pid#/proc/}
        if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$dir/exec"; then pids+=("$pid"); fi
    done
    for pid in "${pids[@]}"; do
        for child in $(pgrep -P "$pid" 2>/dev/null || true); do kill -KILL "$child" 2>/dev/null || true; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    # the host's mount namespace, and the mounts that keep its directories busy, go with its last process
    for pid in "${pids[@]}"; do
        for _ in $(seq 100); do pid_alive "$pid" || break; sleep 0.1; done
    done
}

host_down() {
    local h=$1 dir ns pid
    dir="$(host_dir "$h")" ns="$(host_ns "$h")"
    if docker_answers "$h"; then
        # job volumes come from the host's plugin: removing them through dockerd unmounts and deletes their images
        mapfile -t ids < <(host_docker "$h" ps -aq)
        [[ ${#ids[@]} == 0 ]] || host_docker "$h" rm -f "${ids[@]}" >/dev/null || true
        mapfile -t ids < <(host_docker "$h" volume ls -q)
        [[ ${#ids[@]} == 0 ]] || host_docker "$h" volume rm -f "${ids[@]}" >/dev/null || true
        host_docker "$h" network prune -f >/dev/null || true
    fi
    if pid="$(cat "$dir/docker.pid" 2>/dev/null)" && [[ $pid =~ ^[0-9]+$ ]] && pid_alive "$pid" &&
        [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == dockerd ]]; then
        kill -TERM "$pid"
        for _ in $(seq 1 120); do pid_alive "$pid" || break; sleep 0.5; done
    fi
    if pid="$(pidfile_pid "$dir/disk-plugin.pid")"; then kill -TERM "$pid"; fi
    kill_in "$h"
    if ip netns list | awk '{print $1}' | grep -qx "$ns"; then ip netns del "$ns"; fi
    if ip link show "$ns" >/dev/null 2>&1; then ip link del "$ns"; fi
    # what dockerd and the plugin leave once their mount namespace is gone; the images stay unless --purge
    rm -rf "$dir/exec" "$dir/plugins" "$dir/disk" "$dir/cgroup" "$dir/docker.sock" "$dir/docker.pid" "$dir/disk-plugin.pid"
}

cmd_down() {
    local h
    need_root
    for h in $(known_hosts | sort -u); do
        host_down "$h"
        step "$h removed"
    done
    if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
    while iptables -C FORWARD "${FORWARD_RULE[@]}" 2>/dev/null; do iptables -D FORWARD "${FORWARD_RULE[@]}"; done
    if [[ ${1:-} == --purge ]]; then rm -rf "$STATE"; fi
    step "test bed down"
}

cmd_env() {
    local h
    echo "LABQUEUE_TESTBED_MAIN=$NET.1"
    for h in $(known_hosts | sort -u); do
        local key=LABQUEUE_TESTBED_${h^^}
        echo "${key}_ADDR=$(host_addr "$h")"
        echo "${key}_NAME=lqtb-$h"
        echo "${key}_DOCKER_HOST=unix://$(host_socket "$h")"
    done
}

cmd_exec() {
    local h=${1:?exec takes a host and a command}
    shift
    check_host "$h"
    [[ $# -gt 0 ]] || die "exec $h: no command"
    # shellcheck disable=SC2016 # $0 and $@ are the inner shell's
    DOCKER_HOST="unix://$(host_socket "$h")" exec nsenter --net="/run/netns/$(host_ns "$h")" -- \
        unshare --uts -- sh -c 'hostname "$0" && exec "$@"' "lqtb-$h" "$@"
}

cmd_load() {
    local h=${1:?load takes a host and images} image want have
    shift
    check_host "$h"
    for image in "$@"; do
        want="$(command docker image inspect --format '{{.Id}}' "$image")" || die "no image $image on this machine"
        have="$(host_docker "$h" image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
        if [[ $want == "$have" ]]; then
            note "$h has $image already"
            continue
        fi
        command docker save "$image" | host_docker "$h" load -q >/dev/null
        step "loaded $image into $h"
    done
}

case ${1:-} in
    up) cmd_up "${@:2}" ;;
    down) cmd_down "${@:2}" ;;
    env) cmd_env ;;
    exec) cmd_exec "${@:2}" ;;
    load) cmd_load "${@:2}" ;;
    _host) host_main "$2" ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
