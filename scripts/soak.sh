#!/bin/sh
# Issue 12's chaos run, full length, once per seed (SEEDS, default "1 2 3"): one line each.
# Sets up .venv when it is missing (as scripts/test.sh does); other arguments go to
# `python -m tests.chaos` (e.g. --max-rss-mib 80, --duration 60). Exits 1 when any run
# lost, doubled or corrupted a record.
set -eu
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
fi
status=0
for seed in ${SEEDS:-1 2 3}; do
    .venv/bin/python -m tests.chaos --seed "$seed" "$@" || status=1
done
exit "$status"
