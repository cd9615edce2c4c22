#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine, then runs lint, types and tests.
# Needs: python3 >= 3.11, PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (the suite
# creates and removes its own database and key prefix; it fails, never skips, without them).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing Debian chromium for the browser tests"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "== installing Debian nodejs and npm for the openid-client interop tests"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
echo "== npm ci (openid-client for the interop tests)"
(cd tests/interop/node && npm ci --no-audit --no-fund --loglevel=error)

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]' -e clients/python

echo "== ruff"
.venv/bin/ruff check identity_service clients/python/identity_client
echo "== mypy --strict"
.venv/bin/mypy --strict identity_service clients/python/identity_client
echo "== pytest"
exec .venv/bin/pytest -q "$@"
