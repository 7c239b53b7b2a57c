#!/bin/sh
# A long fuzzing run of the decoders, the JSON merge and the document encoder
# (tests/transforms/test_fuzz.py): SHIPPER_FUZZ_EXAMPLES cases, 20000 by default.
# Sets up .venv as scripts/test.sh does; arguments go to pytest.
set -eu
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
SHIPPER_FUZZ_EXAMPLES="${SHIPPER_FUZZ_EXAMPLES:-20000}" exec .venv/bin/pytest -q -p no:randomly \
    --hypothesis-show-statistics tests/transforms/test_fuzz.py "$@"
