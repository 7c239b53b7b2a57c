"""Writes a synthetic kubelet log tree for benchmarks.

    python -m benchmarks.generate --root DIR --records N --containers C --seed S \\
        [--format cri|docker|mixed]

The tree mirrors a node: `DIR/var/log/pods/<ns>_<pod>_<uid>/<container>/0.log` and
relative links `DIR/var/log/containers/<pod>_<ns>_<container>-<id>.log`, two containers
a pod. Lines are 80-300 bytes, a quarter of them JSON application logs; 1% of the
records are long, 4-24 KiB, and those over 16 KiB are cut into 16 KiB pieces as the
runtime does (CRI `P`…`F`, or Docker chunks without `\\n`). `mixed` alternates the
format pod by pod. The same seed always writes the same bytes. Prints
`{"records": N, "lines": L, "bytes": B, "files": F}`, records counted after joining.
"""

from __future__ import annotations

import argparse
import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

FORMATS = ("cri", "docker", "mixed")
PARTIAL_BYTES = 16 * 1024  # containerd's MaxContainerLogLineSize and Docker's copier buffer
LONG_SHARE = 0.01
JSON_SHARE = 0.25
STDERR_SHARE = 0.1
_JSON_END = LONG_SHARE + JSON_SHARE

_START_NS = 1_714_521_600 * 10**9  # 2024-05-01T00:00:00Z
_WRITE_BYTES = 4 << 20
_NAMESPACES = ("default", "kube-system", "payments", "search", "batch-jobs")
_APPS = ("web", "orders-api", "ledger", "checkout", "search-indexer", "coredns", "metrics")
_CONTAINERS = ("app", "log-sidecar")
_LEVELS = ("INFO", "INFO", "INFO", "INFO", "DEBUG", "DEBUG", "WARN", "ERROR")  # eight
_LOGGERS = ("http", "db.pool", "worker", "cache", "scheduler", "auth")  # six
_VOCABULARY = (
    "request served in ms user order payment ledger batch retry cache miss hit upstream "
    "connection pool timeout accepted queued done started stopped id=42 status=200 "
    "path=/api/v1/orders GET POST PUT region=eu-west-1 shard=7 bytes=5120 latency=12ms "
    "settlement invoice customer account balance snapshot worker thread-3 handler "
    "café naïve Zoë 東京 данные ✅"
)


@dataclass(frozen=True, slots=True)
class Summary:
    """What was written: records (after joining partials), lines, bytes and log files."""

    records: int
    lines: int
    bytes: int
    files: int


@dataclass(frozen=True, slots=True)
class _Container:
    namespace: str
    pod: str
    uid: str
    name: str
    id: str
    docker: bool

    @property
    def log_path(self) -> str:
        return f"pods/{self.namespace}_{self.pod}_{self.uid}/{self.name}/0.log"

    @property
    def link_name(self) -> str:
        return f"{self.pod}_{self.namespace}_{self.name}-{self.id}.log"


def generate(root: Path, records: int, containers: int, seed: int, fmt: str = "cri") -> Summary:
    """Write `records` records spread evenly over `containers` containers under `root`."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if records < 0 or containers < 1:
        raise ValueError("records must be >= 0 and containers >= 1")
    rng = random.Random(seed)
    words = _VOCABULARY.split(" ")
    text = _text_pool(rng, words)
    long_text = _text_pool(rng, [w for w in words if w.isascii()])
    logs = root / "var/log"
    lines = size = 0
    for index, container in enumerate(_plan(rng, containers, fmt)):
        path = logs / container.log_path
        path.parent.mkdir(parents=True, exist_ok=True)
        link = logs / "containers" / container.link_name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)
        link.symlink_to(Path("..") / container.log_path)
        writer = _Writer(rng, text, long_text, container.docker)
        share = records // containers + (index < records % containers)
        with path.open("wb") as out:
            for chunk in writer.chunks(share):
                out.write(chunk)
                size += len(chunk)
        lines += writer.lines
    return Summary(records=records, lines=lines, bytes=size, files=containers)


def _plan(rng: random.Random, containers: int, fmt: str) -> list[_Container]:
    """Names and ids for every container, two to a pod."""
    planned: list[_Container] = []
    for index in range(containers):
        pod_index, slot = divmod(index, len(_CONTAINERS))
        if slot == 0:
            app = _APPS[pod_index % len(_APPS)]
            pod = f"{app}-{rng.getrandbits(36):09x}-{rng.getrandbits(20):05x}"
            uid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        docker = fmt == "docker" or (fmt == "mixed" and pod_index % 2 == 1)
        planned.append(
            _Container(
                namespace=_NAMESPACES[pod_index % len(_NAMESPACES)],
                pod=pod,
                uid=uid,
                name=_CONTAINERS[slot],
                id=f"{rng.getrandbits(256):064x}",
                docker=docker,
            )
        )
    return planned


def _text_pool(rng: random.Random, words: list[str]) -> str:
    """256 Ki characters of words to slice messages from.

    No `"` or `\\` in it, so slices go into JSON strings as they are.
    """
    return " ".join(rng.choices(words, k=1 << 16))[: 1 << 18]


class _Writer:
    """One container's log: records rendered to lines, handed out in large byte chunks."""

    def __init__(self, rng: random.Random, text: str, long_text: str, docker: bool) -> None:
        self._rng = rng
        self._text = text
        self._long_text = long_text
        self._docker = docker
        self._ns = _START_NS
        self._second = -1
        self._prefix = ""
        self.lines = 0
        # bytes a line adds around its message, besides the time: CRI `␣stdout␣F␣…\n`,
        # Docker `{"log":"…\n","stream":"stdout","time":"…"}\n` and its `\"` escapes
        self._frame = 41 if docker else 11
        self._json_escapes = 20 if docker else 0
        self._text_starts = len(text) - 300

    def chunks(self, records: int) -> Iterator[bytes]:
        """The file's bytes for `records` records, a few MiB at a time."""
        rng = self._rng
        long_text = self._long_text
        pending: list[str] = []
        pending_chars = 0
        for _ in range(records):
            kind, stream = rng.random(), "stderr" if rng.random() < STDERR_SHARE else "stdout"
            self._ns += int(rng.random() * 2_000_000)
            stamp = self._stamp()
            if kind < LONG_SHARE:
                length = 4096 + int(rng.random() * 20 * 1024)
                start = int(rng.random() * (len(long_text) - length))
                rendered = self._render_long(stamp, stream, long_text[start : start + length])
            else:
                rendered = self._render(stamp, stream, self._message(stamp, kind < _JSON_END))
            pending.append(rendered)
            pending_chars += len(rendered)
            if pending_chars >= _WRITE_BYTES:
                yield "".join(pending).encode()
                pending, pending_chars = [], 0
        if pending:
            yield "".join(pending).encode()

    def _message(self, stamp: str, as_json: bool) -> str:
        """A message sized so that its whole line is 80-300 bytes."""
        rng = self._rng
        line_bytes = 80 + int(rng.random() * 221)
        pick = rng.random()
        level, logger = _LEVELS[int(pick * 8)], _LOGGERS[int(pick * 48) % 6]
        if as_json:
            head = (
                f'{{"ts":"{stamp}","level":"{level.lower()}","logger":"{logger}",'
                f'"trace_id":"{rng.getrandbits(64):016x}","msg":"'
            )
            tail = '"}'
            room = line_bytes - len(head) - 2 - self._frame - self._json_escapes
        else:
            head, tail = f"{stamp} {level} [{logger}] ", ""
            room = line_bytes - len(head) - self._frame
        text = self._text
        start = text.find(" ", int(rng.random() * self._text_starts)) + 1
        words = text[start : start + max(8, room - len(stamp))]
        wide = len(words.encode()) - len(words)  # bytes beyond one per character
        return head + (words[:-wide] if wide else words) + tail

    def _stamp(self) -> str:
        """RFC3339Nano as the runtimes write it: UTC, trailing zeros of the fraction trimmed."""
        second, fraction = divmod(self._ns, 10**9)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        if fraction:
            return f"{self._prefix}.{fraction:09d}".rstrip("0") + "Z"
        return f"{self._prefix}Z"

    def _render(self, stamp: str, stream: str, message: str) -> str:
        self.lines += 1
        if self._docker:
            escaped = message.replace('"', '\\"')
            return f'{{"log":"{escaped}\\n","stream":"{stream}","time":"{stamp}"}}\n'
        return f"{stamp} {stream} F {message}\n"

    def _render_long(self, stamp: str, stream: str, message: str) -> str:
        """An ASCII message, cut into 16 KiB pieces when longer, each with its own time."""
        pieces = [message[i : i + PARTIAL_BYTES] for i in range(0, len(message), PARTIAL_BYTES)]
        out = []
        for i, piece in enumerate(pieces):
            if i:
                self._ns += 20_000
                stamp = self._stamp()
            last = i == len(pieces) - 1
            if self._docker:
                end = "\\n" if last else ""
                out.append(f'{{"log":"{piece}{end}","stream":"{stream}","time":"{stamp}"}}\n')
            else:
                out.append(f"{stamp} {stream} {'F' if last else 'P'} {piece}\n")
        self.lines += len(pieces)
        return "".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.generate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--root", type=Path, required=True, help="the tree goes to ROOT/var/log")
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--containers", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=FORMATS, default="cri")
    args = parser.parse_args(argv)
    summary = generate(args.root, args.records, args.containers, args.seed, args.format)
    print(json.dumps(asdict(summary)))


if __name__ == "__main__":
    main()
