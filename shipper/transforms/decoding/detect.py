"""A file's format, found from its lines, and the decoder the pipeline gets per file.

The first line that parses as CRI or as docker json-file decides, for the whole file.
Lines before it that parse as neither (garbage left by a crash, say) are shipped raw,
as either parser would ship them; so a decoder that resumes mid-file decides the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from shipper.observe.metrics import Metrics
from shipper.record import Records
from shipper.restart import decoder_restart
from shipper.transforms.decoding.cri import CriParser
from shipper.transforms.decoding.decoder import Decoder
from shipper.transforms.decoding.docker import DockerParser
from shipper.transforms.decoding.lines import Assembler, LineSplitter

LINE_SLACK = 64 * 1024  # beyond max_record_bytes, room for a line's header or JSON escapes

Parse = Callable[[list[bytes], int, Records], None]


class DetectingDecoder:
    """The `Decoder` of one file: splits lines, detects the format, delegates to its parser.

    Feeds must follow each other in the file; a truncated file needs a new decoder.
    `line_slack` is how much longer than `max_record_bytes` a line may be before it is
    cut on arrival (tests make it small).
    """

    def __init__(
        self,
        max_record_bytes: int,
        metrics: Metrics,
        partial_timeout: float = 4.0,
        clock: Callable[[], float] = time.monotonic,
        line_slack: int = LINE_SLACK,
    ) -> None:
        line_limit = max_record_bytes + line_slack
        self._splitter = LineSplitter(line_limit)
        self._asm = Assembler(max_record_bytes, line_limit, clock)
        self._metrics = metrics
        self._timeout = partial_timeout
        self._formats: tuple[Parse, ...] = (
            CriParser(self._asm).parse,
            DockerParser(self._asm).parse,
        )
        self._parse: Parse = self._detect

    def feed(self, data: bytes, start: int) -> Records:
        """Parse `data`, the file's bytes from offset `start`; return completed records."""
        out = Records()
        for lines, offset in self._splitter.split(data, start):
            self._parse(lines, offset, out)
        self._publish()
        return out

    @property
    def holds_partials(self) -> bool:
        return bool(self._asm.groups)

    def flush_idle(self, now: float) -> Records:
        """Emit partial groups left open `partial_timeout` seconds or longer."""
        if not self._asm.groups:
            return Records()
        return Records.of(self._asm.flush(lambda opened: now - opened >= self._timeout))

    def finish(self) -> Records:
        """No more bytes will come: emit every pending group and unterminated line as is."""
        out = Records()
        run = self._splitter.take()
        if run is not None:
            self._parse(*run, out)
        out.extend(Records.of(self._asm.flush(lambda opened: True)))
        self._publish()
        return out

    @property
    def resume_offset(self) -> int:
        """Where reading must restart to reproduce every record not yet returned."""
        asm = self._asm
        return decoder_restart(self._splitter.start, asm.group_restart if asm.groups else None)

    @property
    def buffered_bytes(self) -> int:
        """File bytes held for records not yet returned (an unterminated line, open groups)."""
        return self._splitter.held + self._asm.held

    def _detect(self, lines: list[bytes], offset: int, out: Records) -> None:
        """Try each format on each line until one parses; that format parses the rest."""
        asm = self._asm
        for index, line in enumerate(lines):
            for parse in self._formats:
                tallies = asm.malformed, asm.empty
                trial = Records()
                parse([line], offset, trial)
                if (asm.malformed, asm.empty) == tallies:
                    self._parse = parse
                    out.extend(trial)
                    parse(lines[index + 1 :], offset + len(line) + 1, out)
                    return
                asm.malformed, asm.empty = tallies  # a failed trial counts nothing
            asm.raw(line, offset, out)
            offset += len(line) + 1

    def _publish(self) -> None:
        malformed, empty = self._asm.end_chunk()
        if malformed:
            self._metrics.records_malformed.inc(malformed)
        self._metrics.dropped("empty", empty)


def make_decoder(
    max_record_bytes: int,
    metrics: Metrics,
    partial_timeout: float = 4.0,
    clock: Callable[[], float] = time.monotonic,
) -> Decoder:
    """A decoder for one file of either kubelet format, detected from its lines."""
    return DetectingDecoder(max_record_bytes, metrics, partial_timeout, clock)
