#!/usr/bin/env bash
# Install the pinned Claude Code CLI used by the end-to-end tests (tests/e2e).
#
# The CLI goes into a cache directory outside the repository:
#   ${ROADMAP_CLAUDE_CACHE:-$HOME/.cache/pytest-roadmap/claude-<version>}
# Re-running is cheap: if the binary there already answers --version, nothing
# is downloaded. The last line printed is the absolute path of the `claude`
# binary, so callers can do: CLAUDE_BIN="$(tools/install_claude.sh | tail -n 1)".
#
# This line is the single place the version is pinned; tests/e2e/conftest.py
# reads it from here.
CLAUDE_CODE_VERSION="2.1.328"

set -euo pipefail

package="@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}"
cache_dir="${ROADMAP_CLAUDE_CACHE:-${HOME}/.cache/pytest-roadmap/claude-${CLAUDE_CODE_VERSION}}"
bin="${cache_dir}/node_modules/.bin/claude"

log() { printf '%s\n' "install_claude: $*" >&2; }

installed_ok() {
    [ -x "${bin}" ] || return 1
    local out
    # Bounded: a broken install must not hang this script.
    out="$(timeout 60 "${bin}" --version 2>/dev/null </dev/null)" || return 1
    case "${out}" in
        "${CLAUDE_CODE_VERSION}"*) return 0 ;;
        *) log "found ${bin} reporting '${out}', want ${CLAUDE_CODE_VERSION}"; return 1 ;;
    esac
}

if ! command -v npm >/dev/null 2>&1; then
    log "npm not found: install Node.js (>= 20) first"
    exit 1
fi

if installed_ok; then
    log "${package} already installed in ${cache_dir}"
else
    log "installing ${package} into ${cache_dir} (about 350 MB)"
    mkdir -p "${cache_dir}"
    # The package declares node >= 22 but its native binary runs on node 20;
    # npm only warns about that.
    npm install --prefix "${cache_dir}" --no-audit --no-fund --no-save \
        --loglevel=error "${package}" >&2
    if ! installed_ok; then
        log "installed, but '${bin} --version' does not report ${CLAUDE_CODE_VERSION}"
        exit 1
    fi
fi

# Absolute path, symlinks kept (the .bin shim is what npm puts on PATH).
abs_dir="$(cd "$(dirname "${bin}")" && pwd)"
printf '%s\n' "${abs_dir}/$(basename "${bin}")"
