#!/usr/bin/env bash
# Usage: scripts/services.sh
# Everything labqueue's processes and tests need, installed and running, idempotently:
# the venv, generated secrets, the Docker engine, RabbitMQ, the SeaweedFS S3 server
# with its buckets, and the worker images.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
"$here/venv.sh"
"$here/secrets.sh"
"$here/docker.sh"
"$here/rabbitmq.sh"
"$here/seaweedfs.sh"
"$here/images.sh"
"$here/browser.sh"
"$here/loadtool.sh"
