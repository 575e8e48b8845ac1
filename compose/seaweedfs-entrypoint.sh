#!/bin/sh
# Runs SeaweedFS as labqueue's S3 store with the flags of scripts/seaweedfs.sh:
# only the S3 gateway (8333) listens beyond the container's loopback; data,
# metadata and the filer's store in /data; one identity with the keys of
# LABQUEUE_S3_ACCESS_KEY and LABQUEUE_S3_SECRET_KEY. Arguments are added to
# `weed server`'s.
set -eu
: "${LABQUEUE_S3_ACCESS_KEY:?LABQUEUE_S3_ACCESS_KEY must be set}"
: "${LABQUEUE_S3_SECRET_KEY:?LABQUEUE_S3_SECRET_KEY must be set}"

json_string() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

umask 077
config=/tmp/s3.json
printf '{"identities": [{"name": "labqueue", "credentials": [{"accessKey": %s, "secretKey": %s}], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}\n' \
    "$(json_string "$LABQUEUE_S3_ACCESS_KEY")" "$(json_string "$LABQUEUE_S3_SECRET_KEY")" >"$config"

# a new bucket (collection) grows 1 volume at a time instead of 7
export WEED_MASTER_VOLUME_GROWTH_COPY_1=1
cd /data
exec weed server \
    -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -dir=/data \
    -master.port=9333 -master.port.grpc=19333 \
    -master.telemetry=false \
    -master.electionTimeout=1s \
    -master.volumeSizeLimitMB=1024 \
    -volume.port=18080 -volume.port.grpc=28080 \
    -volume.max=200 -volume.preStopSeconds=1 \
    -filer -filer.port=8888 -filer.port.grpc=18888 -filer.disableHttp \
    -s3 -s3.ip.bind=0.0.0.0 -s3.port=8333 -s3.port.grpc=18333 -s3.config="$config" \
    -s3.port.iceberg=0 -s3.port.lance=0 \
    "$@"
