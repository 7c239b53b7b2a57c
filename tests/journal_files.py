"""Real journal files, made the way a remote journal is: entries written in the journal
export format (systemd's documented serialisation) and turned into a `.journal` file by
`systemd-journal-remote`, then read back by the real journalctl.

`Journal.append` adds entries to the active file (`system.journal`); `rotate` archives it
as journald does (renamed to `system@<seqnum id>-<seqnum>-<time>.journal`), so the next
append starts a new active file and `journalctl --vacuum-files` may delete the archive.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BOOT_ID = "0123456789abcdef0123456789abcdef"
START_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z, in microseconds


def journal_remote() -> str:
    """The systemd-journal-remote binary (Debian: package systemd-journal-remote)."""
    for candidate in (
        shutil.which("systemd-journal-remote"),
        "/lib/systemd/systemd-journal-remote",
        "/usr/lib/systemd/systemd-journal-remote",
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    # scripts/test.sh installs it (and says so loudly when it cannot): without it there are
    # no real journal files to test with, so the journal tests are skipped, never faked.
    pytest.skip(
        "systemd-journal-remote is not installed: apt-get install -y systemd-journal-remote "
        "(scripts/test.sh installs it)"
    )


def export_entry(fields: Iterable[tuple[str, str | bytes]]) -> bytes:
    """One entry in the export format: `NAME=value` lines, binary values length-prefixed."""
    out = []
    for name, value in fields:
        data = value.encode() if isinstance(value, str) else value
        if b"\n" in data or not _printable(data):
            out.append(name.encode() + b"\n" + len(data).to_bytes(8, "little") + data + b"\n")
        else:
            out.append(name.encode() + b"=" + data + b"\n")
    return b"".join(out) + b"\n"


def _printable(data: bytes) -> bool:
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return False
    return all(c >= " " or c == "\t" for c in text)


@dataclass
class Journal:
    """A journal directory the tests write entries to."""

    directory: Path
    written: list[bytes] = field(default_factory=list)  # each entry's MESSAGE, in order
    _seq: int = 0
    _archives: int = 0

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    @property
    def active(self) -> Path:
        return self.directory / "system.journal"

    def append(
        self, messages: Iterable[str | bytes], unit: str = "kubelet.service", pid: int = 4242
    ) -> None:
        """Add one entry per message, from `unit`, to the active file."""
        entries = []
        for message in messages:
            self._seq += 1
            data = message.encode() if isinstance(message, str) else message
            entries.append(
                export_entry(
                    [
                        ("__REALTIME_TIMESTAMP", str(START_US + self._seq * 1000)),
                        ("__MONOTONIC_TIMESTAMP", str(5_000_000 + self._seq * 1000)),
                        ("_BOOT_ID", BOOT_ID),
                        ("_SYSTEMD_UNIT", unit),
                        ("_PID", str(pid)),
                        ("_HOSTNAME", "node-a"),
                        ("PRIORITY", "6"),
                        ("SYSLOG_IDENTIFIER", unit.split(".")[0]),
                        ("MESSAGE", data),
                    ]
                )
            )
            if unit == "kubelet.service":
                self.written.append(data)
        done = subprocess.run(
            [journal_remote(), "-o", str(self.active), "-"],
            input=b"".join(entries),
            capture_output=True,
            timeout=30,
        )
        if done.returncode != 0:
            raise AssertionError(f"systemd-journal-remote failed: {done.stderr.decode()}")

    def rotate(self) -> Path:
        """Archive the active file as journald names archives; the next append starts anew."""
        self._archives += 1
        archived = self.directory / (
            f"system@{BOOT_ID}-{self._archives:016x}-{START_US + self._seq * 1000:016x}.journal"
        )
        os.rename(self.active, archived)
        return archived

    def vacuum(self, keep_files: int = 1) -> None:
        """`journalctl --vacuum-files`: delete the oldest archives, as journald's vacuum does."""
        done = subprocess.run(
            ["journalctl", "--directory", str(self.directory), f"--vacuum-files={keep_files}"],
            capture_output=True,
            timeout=30,
        )
        if done.returncode != 0:
            raise AssertionError(f"journalctl --vacuum-files failed: {done.stderr.decode()}")
