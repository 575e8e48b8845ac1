#!/usr/bin/env bash
# Usage: scripts/compose-images.sh
# Local stand-ins for the registry images docker-compose.yml starts from, for
# machines that cannot pull (compose/.env.local selects them):
#   labqueue/base:bookworm        for debian:bookworm-slim (scripts/images.sh base)
#   labqueue/local-python:3.11    for python:3.11-slim-bookworm (Debian's python3)
#   labqueue/local-postgres:15    for postgres:15-bookworm (Debian's postgresql-15)
#   labqueue/local-rabbitmq:3.10  for rabbitmq:3.13-management (Debian's rabbitmq-server)
# Recipes in compose/images/. The classic builder's cache makes a re-run quick.
# Build logs: $LABQUEUE_VAR/log/compose-image-<name>.log
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASE=labqueue/base:bookworm
declare -A TAG=(
    [python]=labqueue/local-python:3.11
    [postgres]=labqueue/local-postgres:15
    [rabbitmq]=labqueue/local-rabbitmq:3.10
)

image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

build() {
    local name=$1 tag=${TAG[$1]} log=$LABQUEUE_VAR/log/compose-image-$1.log before start=$SECONDS
    before="$(image_id "$tag")"
    DOCKER_BUILDKIT=0 docker build --build-arg "BASE_IMAGE=$BASE" \
        -f "$LABQUEUE_ROOT/compose/images/$name.Dockerfile" -t "$tag" "$LABQUEUE_ROOT/compose/images" >"$log" 2>&1 ||
        { tail -n 40 "$log" >&2; die "building $tag failed (log: $log)"; }
    if [[ "$(image_id "$tag")" == "$before" ]]; then
        step "$tag up to date"
    else
        step "built $tag in $((SECONDS - start))s ($(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
        # the superseded image, unless something still uses it
        [[ -z $before ]] || docker rmi "$before" >/dev/null 2>&1 || true
    fi
}

"$LABQUEUE_ROOT/scripts/images.sh" base
for name in python postgres rabbitmq; do
    build "$name"
done
