# Local stand-in for python:3.11-slim-bookworm where no registry can be reached:
# Debian 12's own Python 3.11 with venv (our images install into a venv).
#   scripts/compose-images.sh builds it as labqueue/local-python:3.11
ARG BASE_IMAGE=labqueue/base:bookworm
FROM ${BASE_IMAGE}

ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 python3-venv \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*

CMD ["python3"]
