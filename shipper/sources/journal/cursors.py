"""The journal's saved positions: one cursor per journal directory, in
`$SHIPPER_STATE_DIR/journal-cursors.json`, written atomically like the files' positions.

A cursor here is always that of an entry Elasticsearch acknowledged together with every
entry journalctl gave before it, so a restart (`--after-cursor`) resumes exactly after what
was delivered, whatever killed the agent.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from shipper.durable import load_state, replace_atomically

FORMAT_VERSION = 1
FILE_NAME = "journal-cursors.json"


class Cursors:
    """Cursors by journal directory; `dirty` says a save is due."""

    def __init__(self, state_dir: str) -> None:
        self.path = os.path.join(state_dir, FILE_NAME)
        self.dirty = False
        self._cursors: dict[str, str] = {}

    def get(self, directory: str) -> str | None:
        return self._cursors.get(directory)

    def commit(self, directory: str, cursor: str) -> None:
        """Everything up to and including `cursor` in `directory` was acknowledged."""
        self._cursors[directory] = cursor
        self.dirty = True

    def load(self) -> None:
        """Read the saved cursors; a corrupt file is moved aside (reading starts at the
        journal's head: ids derived from cursors make the replay store nothing twice)."""
        cursors = load_state(self.path, "journal cursors", _cursors_of)
        if cursors is None:
            return
        self._cursors = dict(cursors)

    def snapshot(self) -> bytes:
        """The file's content now (no longer `dirty`): `write` it off the event loop."""
        self.dirty = False
        doc = {"version": FORMAT_VERSION, "cursors": self._cursors}
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2)

    def write(self, data: bytes) -> None:
        """Replace the file by `data` atomically (blocking)."""
        replace_atomically(self.path, lambda out: out.write(data), f"{self.path}.tmp")


def _cursors_of(doc: Any) -> dict[str, str]:
    cursors = doc["cursors"]
    if not isinstance(cursors, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in cursors.items()
    ):
        raise ValueError("cursors is not an object of strings")
    return cursors
