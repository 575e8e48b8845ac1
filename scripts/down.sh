#!/usr/bin/env bash
# Usage: scripts/down.sh   (make down)
# Stops what `make up` started: labqueue's processes, then the S3 server and RabbitMQ.
# Docker is left running (other things on the machine may use it).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for name in web consumer-python consumer-matlab producer; do
    stop_pidfile "$name"
done
"$LABQUEUE_ROOT/scripts/seaweedfs.sh" stop
if command -v rabbitmqctl >/dev/null && rabbitmqctl -q status >/dev/null 2>&1; then
    rabbitmqctl -q stop >/dev/null && step "stopped RabbitMQ"
fi
