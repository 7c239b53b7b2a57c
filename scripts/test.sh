#!/bin/sh
# Set up a virtualenv with the development tools and run the test suite.
set -eu
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
exec .venv/bin/pytest -q "$@"
