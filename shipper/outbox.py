"""The pipeline's outbox: blocks of documents waiting for the sink, files taking turns.

When the sink is the bottleneck, what it cannot take yet waits here. One queue per
file, served round robin, so a file with one line to send waits behind at most one
block of each other file, not behind the whole backlog of a flooding one. Within a
file, blocks keep their order (the sink's contract; acknowledgements work either way).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable

from shipper.record import Documents


class Outbox:
    """Per-file FIFO queues of blocks; `pop` serves the files in turn."""

    def __init__(self) -> None:
        # The files with blocks waiting, in turn order (a dict keeps insertion order).
        self._queues: dict[Hashable, deque[Documents]] = {}
        self._count = 0

    def __len__(self) -> int:
        """Blocks waiting, all files together."""
        return self._count

    def put(self, file: Hashable, block: Documents) -> None:
        """Queue `block` after `file`'s earlier ones; a file new to the outbox takes the
        last turn."""
        queue = self._queues.get(file)
        if queue is None:
            queue = self._queues[file] = deque()
        queue.append(block)
        self._count += 1

    def pop(self) -> Documents:
        """The oldest block of the file whose turn it is; that file then goes last.

        Only when `len` is not 0."""
        file, queue = next(iter(self._queues.items()))
        block = queue.popleft()
        del self._queues[file]
        if queue:
            self._queues[file] = queue
        self._count -= 1
        return block
