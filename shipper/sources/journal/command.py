"""The journalctl command line that reads one journal directory for the pipeline.

shipper reads the journal through journalctl, as a child process (as Vector does), rather
than through a binding to libsystemd: journalctl is the reader systemd maintains for its
own file format (compression, new header fields, files being written and rotated, vacuumed
files), its JSON output is stable, and a crash or a hang in it cannot take the agent down
with it: the agent starts it again.
"""

from __future__ import annotations

import os
from collections.abc import Sequence


def journalctl_args(
    journalctl: str, directory: str, units: Sequence[str], after_cursor: str | None
) -> list[str]:
    """Follow the entries of `units` in `directory` from its head, or from `after_cursor`:
    the caller drops the first entry when it is the one at that cursor.

    Not `--after-cursor`: journalctl (252) then skips one entry after seeking whether or not
    the cursor's entry still exists, so after a vacuum took it, the next entry would be lost.
    `--all` keeps long and binary fields (otherwise written as null), `--no-tail` reads from
    the head rather than the last ten entries, `-q` keeps notices off stderr. Several matches
    on one field are or-ed by journalctl.
    """
    args = [
        journalctl,
        "--directory",
        directory,
        "--output=json",
        "--all",
        "--follow",
        "--no-tail",
        "--no-pager",
        "--quiet",
    ]
    if after_cursor:
        args.append(f"--cursor={after_cursor}")
    args += [f"_SYSTEMD_UNIT={unit}" for unit in units]
    return args


def has_journal_files(directory: str) -> bool:
    """Whether `directory` (or a machine-id directory in it) holds a journal file: journalctl
    --follow exits at once on a directory without one."""
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.endswith(".journal"):
                    return True
                if entry.is_dir() and _has_file(entry.path):
                    return True
    except OSError:
        return False
    return False


def _has_file(directory: str) -> bool:
    try:
        return any(name.endswith(".journal") for name in os.listdir(directory))
    except OSError:
        return False
