#!/usr/bin/env bash
# Usage: scripts/images.sh [base|python|matlab|build-proxy]...   (default: all)
# Builds the worker images without pulling anything from a container registry:
#   labqueue/base:bookworm         debootstrapped Debian 12 (minbase) from the
#                                  machine's Debian mirror, with the CA bundle
#                                  of $LABQUEUE_CA_BUNDLE (default: the host's)
#   labqueue/worker-python:latest  worker_images/python
#   labqueue/worker-matlab:latest  worker_images/matlab
#   labqueue/build-proxy:latest    worker_images/build-proxy (tinyproxy: the only
#                                  way out of environment builds, consumer/egress.py)
# The base is rebuilt only when missing or when the CA bundle, the mirror or
# this recipe changed; worker images rely on docker's build cache.
# Env: LABQUEUE_CA_BUNDLE, LABQUEUE_DEBIAN_MIRROR, LABQUEUE_DEBIAN_SECURITY_MIRROR
#      (see lib.sh), LABQUEUE_BASE_IMAGE (use this image as the base instead of
#      building labqueue/base:bookworm, e.g. debian:bookworm-slim where a
#      registry can be reached).
# Build logs: $LABQUEUE_VAR/log/image-<name>.log
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OWN_BASE=labqueue/base:bookworm
BASE_IMAGE=${LABQUEUE_BASE_IMAGE:-$OWN_BASE}
CA_BUNDLE=${LABQUEUE_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
IMAGE_CA=/etc/ssl/certs/ca-certificates.crt
# Bump when the base recipe below changes, so existing bases get rebuilt.
BASE_RECIPE=1
SUITE=bookworm

declare -A WORKER_TAG=([python]=labqueue/worker-python:latest [matlab]=labqueue/worker-matlab:latest
                       [build-proxy]=labqueue/build-proxy:latest)

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(base python matlab build-proxy)
for t in "${targets[@]}"; do
    [[ $t == base || -n ${WORKER_TAG[$t]:-} ]] || die "unknown image '$t' (expected: base python matlab build-proxy)"
done

docker info >/dev/null 2>&1 || die "docker does not answer: run scripts/docker.sh first"

image_label() {  # image label -> value or empty
    docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}
image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

build_base() {
    [[ -r $CA_BUNDLE ]] || die "CA bundle $CA_BUNDLE not readable (set LABQUEUE_CA_BUNDLE)"
    local mirror security ca_sha
    mirror="$(debian_mirror)"
    security="$(debian_security_mirror)"
    ca_sha="$(sha256_of "$CA_BUNDLE")"
    if [[ "$(image_label "$OWN_BASE" org.labqueue.ca-bundle.sha256)" == "$ca_sha" &&
          "$(image_label "$OWN_BASE" org.labqueue.debian-mirror)" == "$mirror" &&
          "$(image_label "$OWN_BASE" org.labqueue.debian-security-mirror)" == "$security" &&
          "$(image_label "$OWN_BASE" org.labqueue.base-recipe)" == "$BASE_RECIPE" ]]; then
        step "$OWN_BASE up to date"
        return
    fi
    need_root
    apt_install debootstrap debian-archive-keyring
    local log=$LABQUEUE_VAR/log/image-base.log
    step "building $OWN_BASE: debootstrap $SUITE from the machine's mirror (log: $log)"
    : >"$log"

    local root
    root="$(mktemp -d /var/tmp/labqueue-base.XXXXXX)"
    # shellcheck disable=SC2064
    trap "cleanup_root '$root'" EXIT
    quiet_log "$log" debootstrap --variant=minbase --components=main \
        --include=ca-certificates "$SUITE" "$root" "$mirror"

    # apt sources: the same mirror, plus updates and (if the host has it) security
    rm -f "$root/etc/apt/sources.list"
    {
        printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$mirror" "$SUITE" "$SUITE"
        if [[ -n $security ]]; then
            printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
                "$security" "$SUITE"
        fi
    } >"$root/etc/apt/sources.list.d/debian.sources"

    # like Debian's slim images: no docs or man pages from later installs
    cat >"$root/etc/dpkg/dpkg.cfg.d/labqueue-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    cat >"$root/etc/apt/apt.conf.d/labqueue-docker" <<'EOF'
// labqueue base image: keep images small, never prompt
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
Acquire::GzipIndexes "true";
Acquire::CompressionTypes::Order:: "gz";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
EOF
    # no service starts inside containers
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"

    # the CA bundle: as the image's bundle, and as a local CA so that a later
    # update-ca-certificates (run by package installs) keeps its certificates
    install -m 644 "$CA_BUNDLE" "$root/usr/local/share/ca-certificates/labqueue-ca-bundle.crt"

    # security and point-release updates, then clean up
    cp -L /etc/resolv.conf "$root/etc/resolv.conf"
    quiet_log "$log" chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \
        sh -c 'apt-get update -q && apt-get -y -q -o Dpkg::Options::=--force-confold upgrade && update-ca-certificates && apt-get clean'
    install -m 644 "$CA_BUNDLE" "$root$IMAGE_CA"
    : >"$root/etc/resolv.conf"
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/log/apt/* \
        "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
        "$root"/usr/share/doc/*/changelog* "$root"/usr/share/man/* "$root"/usr/share/info/*
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    find "$root/var/log" -type f -exec truncate -s 0 {} +

    local ca_env="$IMAGE_CA"
    tar --numeric-owner --xattrs -C "$root" \
        --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' --exclude='./tmp/*' -c . |
        docker import \
            --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
            --change "ENV LANG=C.UTF-8" \
            --change "ENV SSL_CERT_FILE=$ca_env PIP_CERT=$ca_env REQUESTS_CA_BUNDLE=$ca_env CURL_CA_BUNDLE=$ca_env" \
            --change "LABEL org.labqueue.ca-bundle.sha256=$ca_sha" \
            --change "LABEL org.labqueue.debian-mirror=$mirror" \
            --change "LABEL org.labqueue.debian-security-mirror=$security" \
            --change "LABEL org.labqueue.base-recipe=$BASE_RECIPE" \
            --change 'CMD ["bash"]' \
            -m "labqueue base: debootstrap --variant=minbase $SUITE" \
            - "$OWN_BASE" >>"$log"
    cleanup_root "$root"
    trap - EXIT
    step "built $OWN_BASE ($(docker image inspect --format '{{.Size}}' "$OWN_BASE" | awk '{printf "%.0f MB", $1/1e6}'))"
}

cleanup_root() {
    local root=$1
    [[ $root == /var/tmp/labqueue-base.* && -d $root ]] || return 0
    # never delete through a mount point
    if awk -v r="$root" '$2 == r || index($2, r "/") == 1 { found=1 } END { exit !found }' /proc/mounts; then
        printf 'leaving %s in place: something is mounted below it\n' "$root" >&2
        return 0
    fi
    rm -rf --one-file-system "$root"
}

# quiet_log LOG CMD... — append the command's output to LOG; show its tail on failure
quiet_log() {
    local log=$1 rc=0; shift
    "$@" >>"$log" 2>&1 || rc=$?
    if [[ $rc != 0 ]]; then
        printf '[%s] command failed (exit %s): %s\n' "$_LQ_SCRIPT" "$rc" "$*" >&2
        tail -n 40 "$log" >&2
        return "$rc"
    fi
}

build_worker() {
    local name=$1 tag=${WORKER_TAG[$1]} ctx=$LABQUEUE_ROOT/worker_images/$1
    local log=$LABQUEUE_VAR/log/image-$name.log before after start=$SECONDS
    [[ -f $ctx/Dockerfile ]] || die "$ctx/Dockerfile missing"
    docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 ||
        die "base image $BASE_IMAGE missing (run scripts/images.sh base, or pull it)"
    before="$(image_id "$tag")"
    : >"$log"
    # the classic builder: it needs no buildx plugin and never pulls a base
    # that exists locally
    quiet_log "$log" env DOCKER_BUILDKIT=0 docker build \
        --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        --label "org.labqueue.worker=$name" \
        -t "$tag" "$ctx"
    after="$(image_id "$tag")"
    if [[ $before == "$after" ]]; then
        step "$tag up to date"
    else
        step "built $tag in $((SECONDS - start))s ($(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'), log: $log)"
        # drop the superseded image if nothing uses it any more
        [[ -z $before ]] || docker rmi "$before" >/dev/null 2>&1 || true
    fi
}

need_base=0
for t in "${targets[@]}"; do
    # a worker image needs the base: make sure it is there and current
    if [[ $t == base || $BASE_IMAGE == "$OWN_BASE" ]]; then need_base=1; fi
done
if [[ $need_base == 1 ]]; then
    if [[ $BASE_IMAGE == "$OWN_BASE" ]]; then build_base; else step "using base image $BASE_IMAGE"; fi
fi
for t in "${targets[@]}"; do
    [[ $t == base ]] || build_worker "$t"
done
