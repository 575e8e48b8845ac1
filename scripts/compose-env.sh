#!/usr/bin/env bash
# Usage: scripts/compose-env.sh [--local] [FILE]   (FILE: default .env at the repository's root)
# Writes the settings of docker-compose.yml from compose/.env.example: empty
# secrets generated, LABQUEUE_DOCKER_GID the group of /var/run/docker.sock.
# --local adds compose/.env.local: the stand-in images of
# scripts/compose-images.sh, for a machine without a container registry.
# Keys already set in FILE keep their values; only missing keys are added.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

sources=("$LABQUEUE_ROOT/compose/.env.example")
if [[ ${1:-} == --local ]]; then
    sources+=("$LABQUEUE_ROOT/compose/.env.local")
    shift
fi
f=${1:-$LABQUEUE_ROOT/.env}

rand() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
generated() {  # KEY -> a value for a key the example leaves empty
    case $1 in
        LABQUEUE_DOCKER_GID) stat -c %g /var/run/docker.sock 2>/dev/null || die "no /var/run/docker.sock: run scripts/docker.sh first" ;;
        LABQUEUE_S3_ACCESS_KEY) echo "lq$(rand 9)" ;;
        LABQUEUE_SECRET_KEY | *_PASSWORD | *_SECRET_KEY) rand 24 ;;
        *) die "compose/.env.example leaves $1 empty and this script has no value for it" ;;
    esac
}

umask 077
new=0
[[ -f $f ]] || new=1
tmp="$(mktemp "$f.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
if [[ $new == 0 ]]; then
    cat "$f" >"$tmp"
    [[ -z "$(tail -c1 "$f")" ]] || echo >>"$tmp"
fi
added=()
for src in "${sources[@]}"; do
    while IFS= read -r line || [[ -n $line ]]; do
        if [[ $line =~ ^([A-Z][A-Z0-9_]*)=(.*)$ ]]; then
            key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
            if grep -q "^$key=" "$tmp"; then continue; fi
            [[ -n $value ]] || value="$(generated "$key")"
            printf '%s=%s\n' "$key" "$value" >>"$tmp"
            added+=("$key")
        elif [[ $new == 1 ]]; then
            # a new file keeps the example's comments: they document each setting
            printf '%s\n' "$line" >>"$tmp"
        fi
    done <"$src"
done

if [[ ${#added[@]} == 0 ]]; then
    rm -f "$tmp"
    chmod 600 "$f"
    step "$f up to date"
    exit 0
fi
chmod 600 "$tmp"
mv -f "$tmp" "$f"
trap - EXIT
step "wrote ${added[*]} to $f"
