# shellcheck shell=bash
# Shared helpers for labqueue's set-up scripts. Source it, don't run it:
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Provides: LABQUEUE_ROOT, LABQUEUE_VAR (+ var/log, var/run), LABQUEUE_VENV,
# step, note, die, need_root, quiet, pid_alive, apt_install, wait_for_port, port_open,
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
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\n# labqueue: no service starts during package installs\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        made_policy=1
    fi
    local rc=0
    quiet apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}" || rc=$?
    if [[ $made_policy == 1 ]]; then rm -f "$policy"; fi
    return "$rc"
}

# port_open HOST PORT — true if something accepts TCP connections there.
port_open() {
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
