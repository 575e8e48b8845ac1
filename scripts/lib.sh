# shellcheck shell=bash
# Shared helpers for labqueue's set-up scripts. Source it, don't run it:
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Provides: LABQUEUE_ROOT, LABQUEUE_VAR (+ var/log, var/run), LABQUEUE_VENV,
# step, note, die, need_root, quiet, pid_alive, proc_start, write_pidfile, pidfile_pid, stop_pidfile, apt_install, wait_for_port, port_open,
# debian_mirror, debian_security_mirror, load_env, sha256_of.

set -euo pipefail

LABQUEUE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LABQUEUE_VAR="${LABQUEUE_VAR:-$LABQUEUE_ROOT/var}"
mkdir -p "$LABQUEUE_VAR"
LABQUEUE_VAR="$(cd "$LABQUEUE_VAR" && pwd)"
LABQUEUE_VENV="${LABQUEUE_VENV:-$LABQUEUE_ROOT/.venv}"
LABQUEUE_ENV_FILE="$LABQUEUE_VAR/labqueue.env"
export LABQUEUE_ROOT LABQUEUE_VAR LABQUEUE_VENV LABQUEUE_ENV_FILE
mkdir -p "$LABQUEUE_VAR/log" "$LABQUEUE_VAR/run"

_LQ_SCRIPT="$(basename "${BASH_SOURCE[1]:-$0}" .sh)"

# One line per step, on stdout.
step() { printf '[%s] %s\n' "$_LQ_SCRIPT" "$*"; }
# Extra detail, only with LABQUEUE_VERBOSE=1.
note() { if [[ "${LABQUEUE_VERBOSE:-0}" == 1 ]]; then printf '[%s]   %s\n' "$_LQ_SCRIPT" "$*"; fi; }
die() { printf '[%s] ERROR: %s\n' "$_LQ_SCRIPT" "$*" >&2; exit 1; }

need_root() {
    [[ "$(id -u)" == 0 ]] || die "must run as root (it installs packages and starts system services)"
}

# Run a command quietly; on failure show its output (last lines) and fail.
quiet() {
    local out rc=0
    out="$(mktemp)"
    "$@" >"$out" 2>&1 || rc=$?
    if [[ $rc != 0 ]]; then
        printf '[%s] command failed (exit %s): %s\n' "$_LQ_SCRIPT" "$rc" "$*" >&2
        tail -n 40 "$out" >&2
        rm -f "$out"
        return "$rc"
    fi
    rm -f "$out"
}

# pid_alive PID — the process exists and is not a zombie (an orphan whose
# parent, e.g. a container's PID 1, does not reap it still answers kill -0)
pid_alive() {
    local st
    kill -0 "$1" 2>/dev/null || return 1
    { read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
    st=${st##*) }
    [[ ${st%% *} != Z ]]
}

# proc_start PID — the process's start time (clock ticks since boot, /proc/PID/stat field 22): with the pid it
# names one process, where a pid alone may be reused by a stranger after a reboot or a long uptime.
proc_start() {
    local st fields
    { read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
    st=${st##*) }
    read -r -a fields <<<"$st"
    echo "${fields[19]}"
}

# write_pidfile FILE PID — record PID and its start time.
write_pidfile() { echo "$2 $(proc_start "$2")" >"$1"; }

# pidfile_pid FILE — print the pid FILE names if that very process (same start time) is alive; fail otherwise.
pidfile_pid() {
    local pid start
    [[ -f $1 ]] || return 1
    read -r pid start <"$1" || true
    [[ $pid =~ ^[0-9]+$ && -n $start ]] || return 1
    pid_alive "$pid" && [[ "$(proc_start "$pid")" == "$start" ]] || return 1
    echo "$pid"
}

# stop_pidfile NAME — stop the process var/run/NAME.pid names, only if it is still that process; drop the file.
stop_pidfile() {
    local name=$1 pidfile="$LABQUEUE_VAR/run/$1.pid" pid
    [[ -f $pidfile ]] || return 0
    if pid="$(pidfile_pid "$pidfile")"; then
        kill -TERM "$pid"
        for _ in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.2; done
        if pid_alive "$pid"; then kill -KILL "$pid"; fi
        step "stopped $name"
    else
        step "$name: stale pid file removed (the process it names is gone or is not the one we started)"
    fi
    rm -f "$pidfile"
}

sha256_of() { sha256sum "$@" | awk '{print $1}'; }

# apt_install PKG... — install only the packages not installed yet, without
# prompts, without recommends, and without letting package scripts start
# services (we start them ourselves, configured).
_LQ_APT_UPDATED=0
apt_install() {
    local missing=() p status
    for p in "$@"; do
        status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
        [[ "$status" == "install ok installed" ]] || missing+=("$p")
    done
    [[ ${#missing[@]} == 0 ]] && return 0
    need_root
    step "apt: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if [[ $_LQ_APT_UPDATED == 0 ]]; then
        quiet apt-get update -q
        _LQ_APT_UPDATED=1
    fi
    # A policy-rc.d only while apt runs: the traps remove it however we leave (error, Ctrl-C, kill), so an
    # interrupted install never leaves every later service start on the machine refused; an admin's own is kept.
    local saved_traps rc=0
    saved_traps="$(trap -p EXIT INT TERM)"
    _LQ_MADE_POLICY=0
    trap _lq_drop_policy EXIT
    trap '_lq_drop_policy; exit 130' INT
    trap '_lq_drop_policy; exit 143' TERM
    if [[ ! -e $LABQUEUE_POLICY_RC ]]; then
        printf '#!/bin/sh\n# labqueue: no service starts during package installs\nexit 101\n' >"$LABQUEUE_POLICY_RC"
        chmod 755 "$LABQUEUE_POLICY_RC"
        _LQ_MADE_POLICY=1
    fi
    quiet apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}" || rc=$?
    _lq_drop_policy
    trap - EXIT INT TERM
    eval "$saved_traps"
    return "$rc"
}

# The policy file apt_install writes (a variable so tests can point it elsewhere than the machine's).
LABQUEUE_POLICY_RC="${LABQUEUE_POLICY_RC:-/usr/sbin/policy-rc.d}"
_LQ_MADE_POLICY=0
_lq_drop_policy() {
    if [[ $_LQ_MADE_POLICY == 1 ]]; then rm -f "$LABQUEUE_POLICY_RC"; fi
    _LQ_MADE_POLICY=0
}

# port_open HOST PORT — true if something accepts TCP connections there.
port_open() {
    # shellcheck disable=SC2016  # $1 and $2 are the inner bash's arguments, expanded there on purpose
    timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# wait_for_port HOST PORT TIMEOUT_SECONDS
wait_for_port() {
    local host=$1 port=$2 timeout=${3:-60} start=$SECONDS
    until port_open "$host" "$port"; do
        if (( SECONDS - start >= timeout )); then
            printf '[%s] %s:%s did not answer within %ss\n' "$_LQ_SCRIPT" "$host" "$port" "$timeout" >&2
            return 1
        fi
        sleep 0.3
    done
}

# Print every "URI SUITES..." pair of the machine's apt sources (deb822
# *.sources and one-line *.list), main sources first.
_apt_source_entries() {
    local f
    for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        awk '
            function flush() { if (types ~ /(^|[ \t])deb([ \t]|$)/ && uris != "") print uris "\t" suites; types=""; uris=""; suites="" }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            tolower($1) == "types:"  { $1=""; types=$0 }
            tolower($1) == "uris:"   { uris=$2 }
            tolower($1) == "suites:" { $1=""; sub(/^[ \t]+/, ""); suites=$0 }
            END { flush() }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $f ]] || continue
        awk '$1 == "deb" {
                i = 2
                if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                print $i "\t" $(i+1)
            }' "$f"
    done
}

# debian_mirror — the Debian archive URI this machine's apt uses (not the
# security archive). Override with LABQUEUE_DEBIAN_MIRROR.
debian_mirror() {
    if [[ -n "${LABQUEUE_DEBIAN_MIRROR:-}" ]]; then
        echo "${LABQUEUE_DEBIAN_MIRROR%/}"
        return
    fi
    local uri
    uri="$(_apt_source_entries | awk -F'\t' '$1 !~ /security/ && $2 !~ /security/ { print $1; exit }')"
    [[ -n $uri ]] || die "no Debian mirror found in /etc/apt/sources*; set LABQUEUE_DEBIAN_MIRROR"
    echo "${uri%/}"
}

# debian_security_mirror — the security archive URI the machine uses, or
# nothing. Override with LABQUEUE_DEBIAN_SECURITY_MIRROR (set it to "none"
# to leave security updates out).
debian_security_mirror() {
    if [[ -n "${LABQUEUE_DEBIAN_SECURITY_MIRROR:-}" ]]; then
        [[ $LABQUEUE_DEBIAN_SECURITY_MIRROR == none ]] || echo "${LABQUEUE_DEBIAN_SECURITY_MIRROR%/}"
        return
    fi
    local uri
    uri="$(_apt_source_entries | awk -F'\t' '$2 ~ /-security/ { print $1; exit }')"
    [[ -z $uri ]] || echo "${uri%/}"
}

# load_env — export the values of var/labqueue.env (written by secrets.sh).
load_env() {
    [[ -f $LABQUEUE_ENV_FILE ]] || die "$LABQUEUE_ENV_FILE missing: run scripts/secrets.sh first"
    set -a
    # shellcheck disable=SC1090
    . "$LABQUEUE_ENV_FILE"
    set +a
}
