#!/usr/bin/env bash
# Usage: scripts/loadtool.sh
# Debian's wrk, the HTTP load tool bench/web_load.py drives (its smoke test is
# part of `make test`).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

apt_install wrk
step "$(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
