"""`shipper replay-dead-letter`: send dead-lettered documents again once the cause is fixed.

Each document goes to its original index with its original id (so a document that
made it in the meantime answers 409 to a `create` and counts as replayed). The
file is then rewritten (temp file, fsync, rename) with only the documents still
refused (with their new error), those that could not be sent, and lines that are
not dead-letter entries. Lines an agent appended while the replay ran are carried
over into the new file: they are copied and the new file renamed into place under
the lock the agent appends under (`dead_letter.open_locked`), so none is lost. A
last line with no newline that is not one whole entry is an entry whose write was
stopped (appends are whole under the lock): it is not read, and is left out of the new
file.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from dataclasses import replace
from typing import BinaryIO

from shipper.durable import replace_atomically
from shipper.observe.metrics import Metrics
from shipper.record import AckTracker, Documents
from shipper.settings import SinkSettings
from shipper.sinks.dead_letter import decode_entry, encode_entry, open_locked, whole_lines_end
from shipper.sinks.elasticsearch.bulk import Rejected
from shipper.sinks.elasticsearch.sink import ElasticsearchSink
from shipper.timestamps import now_rfc3339

log = logging.getLogger("shipper.elasticsearch")

EXIT_OK = 0
EXIT_STILL_REJECTED = 1
EXIT_UNREACHABLE = 3


class RewrittenMeanwhile(Exception):
    """Another replay rewrote the file while this one ran: it is left as that one made it."""


def replay_dead_letter(settings: SinkSettings, path: str) -> int:
    """Replay `path` to SHIPPER_ES_HOSTS; 0 all went in, 1 some still refused, 3 unreachable."""
    return asyncio.run(_replay(settings, path))


async def _replay(settings: SinkSettings, path: str) -> int:
    try:
        with open_locked(path, "rb") as file:
            data = file.read()
            inode = os.fstat(file.fileno()).st_ino
    except FileNotFoundError:
        print(f"replayed 0, still rejected 0, nothing in {path}")
        return EXIT_OK
    kept: list[bytes] = []  # lines that stay in the file
    lines: list[bytes] = []
    entries: list[Rejected] = []
    whole = whole_lines_end(data)  # after it: an entry cut short, cut under the lock
    for line in data[:whole].splitlines():
        if not line.strip():
            continue
        try:
            entries.append(decode_entry(line))
            lines.append(line)
        except ValueError as exc:
            log.warning("%s: kept as is: %s", path, exc)
            kept.append(line)
    unreadable = len(kept)

    refused, unsent = await _send(settings, entries)
    now = now_rfc3339(3)
    kept.extend(encode_entry(item, now).rstrip(b"\n") for item in refused)
    kept.extend(lines[i] for i in unsent)
    try:
        _rewrite(path, kept, already_read=whole, inode=inode)
    except RewrittenMeanwhile:
        print(f"{path} was rewritten by another replay meanwhile: left as it is, run again")
        return EXIT_STILL_REJECTED
    replayed = len(entries) - len(refused) - len(unsent)
    unsent_note = f", not sent {len(unsent)} (Elasticsearch unreachable)" if unsent else ""
    print(
        f"replayed {replayed}, still rejected {len(refused) + unreadable}{unsent_note}, "
        f"kept in {path}"
    )
    if unsent:
        return EXIT_UNREACHABLE
    return EXIT_STILL_REJECTED if kept else EXIT_OK


async def _send(
    settings: SinkSettings, entries: Sequence[Rejected]
) -> tuple[list[Rejected], list[int]]:
    """Deliver the entries; return those refused again and the positions of those unsent."""
    if not entries:
        return [], []
    refused: list[Rejected] = []

    async def collect(items: Sequence[Rejected]) -> None:
        refused.extend(items)

    tracker = AckTracker(0, on_commit=lambda _: None, on_release=lambda _: None)
    # One block per entry: each has its own id, and its own ticket to tell whether it
    # went in. No time of its own: replays take no latency sample.
    blocks = [
        Documents(
            [item.doc + b"\n"],
            [b""],
            [0],
            "",
            {},
            tracker.issue(1, i + 1, 0),
            ids=[item.id or ""],
        )
        for i, item in enumerate(entries)
    ]
    sink = ElasticsearchSink(
        # ids as recorded (none where Elasticsearch had assigned them), no template,
        # and deliveries retried within SHIPPER_ONCE_RETRY_TIMEOUT only
        replace(settings, once=True, es_id="auto", es_template="none"),
        Metrics(),
        reject=collect,
    )
    await sink.start()
    try:
        for block, item in zip(blocks, entries, strict=True):
            await sink.send_to(block, [item.index])  # back to the index that refused it
        await sink.drain(None)
    finally:
        await sink.close()
    return refused, [i for i, block in enumerate(blocks) if block.ticket.pending > 0]


def _rewrite(path: str, lines: list[bytes], already_read: int, inode: int) -> None:
    """Replace `path` by `lines` atomically, keeping whatever was appended since it was read.

    Under the appenders' lock from the copy of the appended lines to the rename: an
    agent waiting to append then finds the new file in place.
    """
    with open_locked(path, "rb") as current:
        if os.fstat(current.fileno()).st_ino != inode:
            raise RewrittenMeanwhile(path)

        current.seek(already_read)
        appended = current.read()
        whole = whole_lines_end(appended)
        if whole < len(appended):
            log.warning(
                "%s ended in %d bytes of an entry cut short (kill -9 or a failed write): removed",
                path,
                len(appended) - whole,
            )

        def write(out: BinaryIO) -> None:
            out.writelines(line + b"\n" for line in lines)
            out.write(appended[:whole])

        replace_atomically(path, write, f"{path}.replay-tmp")
