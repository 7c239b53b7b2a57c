#!/bin/sh
# Set up .venv (as scripts/test.sh does) and run the benchmark; arguments go to benchmarks.run.
set -eu
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
exec .venv/bin/python -m benchmarks.run "$@"
