"""What every sink does: take documents, deliver them, acknowledge each one durably written."""

from __future__ import annotations

from typing import Protocol

from shipper.record import Documents


class Sink(Protocol):
    """A destination for documents, which arrive in blocks: one `Documents` per read of a file.

    `send` takes ownership of the blocks and may wait (backpressure). The sink acks
    documents (`Documents.ack` on a block or a slice of it, or `shipper.record.ack_all`)
    once they are durably written: acknowledged by Elasticsearch, dead-lettered, or
    flushed to the file.
    """

    async def start(self) -> None:
        """Open connections and files; never fail because the destination is down."""

    async def send(self, blocks: list[Documents]) -> None:
        """Queue blocks for delivery (the blocks of one file arrive in file order)."""

    def busy(self) -> bool:
        """Whether a block sent now would queue behind blocks sent earlier (then the
        pipeline waits for `ready`; meanwhile blocks wait in its outbox, files in turn)."""

    async def ready(self) -> None:
        """Until the sink is no longer `busy`."""

    def flush_soon(self) -> None:
        """Nothing more can come for now (the buffer is full): send what waits in a
        partial batch without waiting out the flush interval."""

    async def drain(self, timeout: float | None) -> bool:
        """Deliver everything queued; True when every document was acknowledged in time.

        After a False answer `failed` says how many documents were given up on (they are
        not acknowledged, so their positions are not saved).
        """

    async def close(self) -> None:
        """Release connections and files; documents not yet delivered stay unacknowledged."""

    @property
    def failed(self) -> int:
        """Documents given up on (only when a drain ran out of time)."""

    @property
    def failing_since(self) -> float | None:
        """When (time.monotonic) the current run of failed attempts began; None while
        deliveries succeed (for /readyz)."""

    @property
    def last_failure(self) -> str | None:
        """The latest failed attempt's cause, in plain words (for the last line of --once)."""
