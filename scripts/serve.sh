#!/usr/bin/env bash
# Install s3proxy into ./.venv (once) and serve it on embedded defaults:
# an embedded Postgres (pgserver) and the local-directory backend, state in ./.s3proxy.
# Extra arguments go to `s3proxy serve` (see `s3proxy serve --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c 'import s3proxy, pgserver' 2>/dev/null; then
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -e '.[embedded]'
fi
exec .venv/bin/s3proxy serve "$@"
