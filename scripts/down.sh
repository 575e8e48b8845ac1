#!/usr/bin/env bash
# Usage: scripts/down.sh   (make down)
# Stops what `make up` started: labqueue's processes, then the S3 server and RabbitMQ.
# Docker is left running (other things on the machine may use it).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

stop_pidfile() {
    local name=$1 pidfile="$LABQUEUE_VAR/run/$1.pid" pid
    [[ -f $pidfile ]] || return 0
    pid="$(cat "$pidfile")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        step "stopped $name"
    fi
    rm -f "$pidfile"
}

for name in web consumer-python consumer-matlab producer; do
    stop_pidfile "$name"
done
"$LABQUEUE_ROOT/scripts/seaweedfs.sh" stop
if command -v rabbitmqctl >/dev/null && rabbitmqctl -q status >/dev/null 2>&1; then
    rabbitmqctl -q stop >/dev/null && step "stopped RabbitMQ"
fi
