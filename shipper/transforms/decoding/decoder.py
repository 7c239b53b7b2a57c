"""The contract between a file's bytes and its records (implemented per format)."""

from __future__ import annotations

from typing import Protocol

from shipper.record import Records


class Decoder(Protocol):
    """Turns one file's bytes, fed in order in chunks of any size, into records.

    The records produced do not depend on how the input was split into chunks. They come
    as columns (`Records`): the hot path builds no object per record.
    """

    def feed(self, data: bytes, start: int) -> Records:
        """Parse `data`, the file's bytes from offset `start`; return completed records."""

    @property
    def holds_partials(self) -> bool:
        """Whether partial groups are open: only then can `flush_idle` return records."""

    def flush_idle(self, now: float) -> Records:
        """Emit partial groups left open longer than the partial timeout (4 s)."""

    def finish(self) -> Records:
        """No more bytes will come: emit every pending group and unterminated line as is."""

    @property
    def resume_offset(self) -> int:
        """Where reading must restart to reproduce every record not yet returned."""
