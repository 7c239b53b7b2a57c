"""What every sink does: take events, deliver them, acknowledge each one durably written."""

from __future__ import annotations

from typing import Protocol

from shipper.record import Event


class Sink(Protocol):
    """A destination for events.

    `send` takes ownership of the events and may wait (backpressure). The sink acks
    each event (`Event.ticket.ack`, or `shipper.record.ack_all`) once it is durably
    written: acknowledged by Elasticsearch, dead-lettered, or flushed to the file.
    """

    async def start(self) -> None:
        """Open connections and files; never fail because the destination is down."""

    async def send(self, events: list[Event]) -> None:
        """Queue events for delivery (events of one file arrive in file order)."""

    def flush_soon(self) -> None:
        """Nothing more can come for now (the buffer is full): send what waits in a
        partial batch without waiting out the flush interval."""

    async def drain(self, timeout: float | None) -> bool:
        """Deliver everything queued; True when every event was acknowledged in time.

        After a False answer `failed` says how many events were given up on (they are
        not acknowledged, so their positions are not saved).
        """

    async def close(self) -> None:
        """Release connections and files; events not yet delivered stay unacknowledged."""

    @property
    def failed(self) -> int:
        """Events given up on (only when a drain ran out of time)."""
