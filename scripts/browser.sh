#!/usr/bin/env bash
# Usage: scripts/browser.sh
# Debian's Chromium for the browser tests (tests/browser/ drive it through
# Playwright with executable_path=/usr/bin/chromium; Playwright never downloads
# a browser of its own), with fonts so pages and screenshots render real text.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

apt_install chromium fonts-dejavu-core fonts-liberation
version="$(/usr/bin/chromium --headless=new --no-sandbox --version 2>/dev/null)" \
    || die "/usr/bin/chromium does not start"
step "$version"
