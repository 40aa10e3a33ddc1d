#!/usr/bin/env bash
# Install Debian's chromium for the end-to-end test of the HTML report (tests/e2e).
#
# Idempotent and non-interactive: nothing happens when `chromium` already answers
# --version; otherwise apt-get installs it (as root, or through `sudo -n`), with no
# prompt and stdin closed, refreshing the package lists only when the first try fails.
# The last line printed is the absolute path of the browser.
set -euo pipefail

log() { printf '%s\n' "install_chromium: $*" >&2; }

found() {
    local bin
    bin="$(command -v chromium || true)"
    [ -n "${bin}" ] || return 1
    timeout 60 "${bin}" --version </dev/null >/dev/null 2>&1 || return 1
    printf '%s\n' "${bin}"
}

if found; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    log "chromium is missing and this user cannot run apt-get: install the 'chromium' package"
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
install=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q
    --no-install-recommends -o Dpkg::Options::=--force-confdef
    -o Dpkg::Options::=--force-confold chromium)
log "installing chromium with apt-get"
if ! timeout 900 "${install[@]}" </dev/null >&2; then
    log "refreshing the package lists and trying again"
    timeout 600 "${as_root[@]}" apt-get update -q </dev/null >&2
    timeout 900 "${install[@]}" </dev/null >&2
fi
found || { log "chromium installed but does not answer --version"; exit 1; }
