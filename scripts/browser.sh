#!/usr/bin/env bash
# Chromium for the browser-SDK tests (tests/e2e/test_browser_sdks.py): Debian's package, installed when
# missing and this runs as root with apt-get; otherwise those tests skip with a one-line reason.
set -euo pipefail
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  say "installing chromium for the browser tests (Debian package, once)"
  if ! { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then
    say "warning: could not install chromium; the browser tests will skip"
  fi
else
  say "note: no chromium and no root apt-get; the browser tests will skip (apt-get install chromium)"
fi
