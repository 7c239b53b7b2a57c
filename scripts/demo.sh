#!/bin/sh
# Set up a virtualenv and ship the bundled sample node tree to stdout, once.
set -eu
cd "$(dirname "$0")/.."
python3 -m venv .venv-run
.venv-run/bin/pip install -q --disable-pip-version-check -e .
state=$(mktemp -d)
trap 'rm -rf "$state"' EXIT
SHIPPER_METRICS_ADDR=127.0.0.1:0 .venv-run/bin/shipper run --once \
  --path 'examples/var/log/containers/*.log' --state-dir "$state" --output stdout
