#!/bin/sh
# Set up a virtualenv with the development tools and run the test suite.
set -eu
cd "$(dirname "$0")/.."
# The journal tests make real journal files with systemd-journal-remote and read them with
# journalctl (Debian: package systemd-journal-remote, which brings systemd). Quick when present.
if [ ! -x /lib/systemd/systemd-journal-remote ] && [ ! -x /usr/lib/systemd/systemd-journal-remote ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo -n"
    apt="$sudo env DEBIAN_FRONTEND=noninteractive apt-get"
    $apt install -y -q systemd-journal-remote >/dev/null 2>&1 \
      || { $apt update -q >/dev/null && $apt install -y -q systemd-journal-remote >/dev/null; } \
      || echo "scripts/test.sh: WARNING: could not install systemd-journal-remote: the journal tests will be skipped" >&2
  else
    echo "scripts/test.sh: install systemd-journal-remote (and journalctl) for the journal tests" >&2
  fi
fi
python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
exec .venv/bin/pytest -q "$@"
