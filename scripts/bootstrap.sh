#!/usr/bin/env bash
# One-time (and idempotent) set-up: a Python 3.12 venv with the pinned stack, the onramp package,
# and a redis-server binary for the embedded Redis. Re-running it does nothing when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }

find_python() {
  local candidate
  for candidate in "${ONRAMP_PYTHON:-}" python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12 \
                   "$HOME"/.pyenv/versions/3.12*/bin/python3.12; do
    [ -n "$candidate" ] || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' >/dev/null 2>&1; then
      command -v "$candidate" 2>/dev/null || echo "$candidate"
      return 0
    fi
  done
  return 1
}

if [ ! -x .venv/bin/python ]; then
  python=$(find_python) || die "Python 3.12 not found. Install it (e.g. apt-get install python3.12) or set ONRAMP_PYTHON=/path/to/python3.12"
  say "creating .venv with $python"
  "$python" -m venv .venv
fi
.venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' \
  || die ".venv is not Python 3.12; remove it (rm -rf .venv) and run this again"

stamp=.venv/.onramp-requirements.sha256
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing pinned requirements into .venv (first time takes a minute)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check uv==0.13.9 \
    || .venv/bin/python -m pip install --quiet --disable-pip-version-check uv
  .venv/bin/uv pip install --quiet --python .venv/bin/python -r requirements.txt
  .venv/bin/uv pip install --quiet --python .venv/bin/python --no-deps -e .
  .venv/bin/python -m pip check --disable-pip-version-check >/dev/null || die "pip check failed: $(.venv/bin/python -m pip check)"
  echo "$want" > "$stamp"
fi

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing redis-server (used only when no Redis answers at ONRAMP_REDIS_URL)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
    # Debian's package may start a system Redis; Onramp manages its own, so leave the system one as installed.
  else
    say "warning: no redis-server binary; install one (apt-get install redis-server) unless ONRAMP_REDIS_URL points at a running Redis"
  fi
fi
# The example onboarding page serves the browser SDKs from their npm packages (never a CDN).
web=examples/web
web_stamp=$web/node_modules/.onramp-lock.sha256
if [ -f $web/package-lock.json ] && [ "$(cat "$web_stamp" 2>/dev/null)" != "$(sha256sum < $web/package-lock.json)" ]; then
  if command -v npm >/dev/null 2>&1; then
    say "installing the browser SDKs for the example page (npm ci in $web)"
    if (cd $web && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
      sha256sum < $web/package-lock.json > "$web_stamp"
    else
      say "warning: npm ci failed in $web; the example page and its browser tests are unavailable"
    fi
  else
    say "note: no npm; the example page (examples/web) needs Node.js and npm for its browser SDKs"
  fi
fi
# The dbt manifest warehouse_marts is rendered from (Cosmos loads it; parsing the DAG never runs dbt).
# Rebuilt whenever a file of the dbt project changed since the last parse.
dbt_stamp=sql/dbt/target/.onramp-parse.sha256
if [ -f sql/dbt/dbt_project.yml ]; then
  dbt_want=$(find sql/dbt \( -path sql/dbt/target -o -path sql/dbt/logs \) -prune -o -type f -print | LC_ALL=C sort \
             | xargs cat | sha256sum | cut -d' ' -f1)
  if [ ! -f sql/dbt/target/manifest.json ] || [ "$(cat "$dbt_stamp" 2>/dev/null)" != "$dbt_want" ]; then
    say "parsing the dbt project (sql/dbt) into its manifest"
    .venv/bin/python -m onramp.marts.manifest >/dev/null || die "dbt parse failed: run .venv/bin/python -m onramp.marts.manifest to see why"
    echo "$dbt_want" > "$dbt_stamp"
  fi
fi
say "ready: .venv ($(.venv/bin/python --version))"
