"""A loopback `_bulk` endpoint fast enough that the benchmark measures the agent, not it.

    python -m benchmarks.endpoint [--port P] [--track MARKER] [--us-per-doc US]

It answers like an Elasticsearch that stores everything: every `create` item 201
`created`, a repeated `_id` 409 (as `create` does), and counts documents and
distinct ids so a run can prove every record arrived exactly once. Documents
whose line contains MARKER have their delay (arrival minus `@timestamp`) recorded.
`GET /_bench/stats` returns the counts, `GET /_bench/delays` the delays. HTTP/1.1
with keep-alive, gzip bodies accepted.

`--us-per-doc US` makes it a slow Elasticsearch: one indexer shared by every
connection that spends US microseconds per document, so at 30 it absorbs about
33,000 documents a second however many requests the agent has in flight. A
`_bulk` answer waits until the indexer has done its documents, and a document's
delay counts to that moment: it is searchable only once indexed.

Speed comes from never parsing a document: a body is split into lines once, the
action lines themselves (op, index and id) are the keys of the set of what arrived,
and the answer's items are those lines with `"status":201` spliced in by one bytes
replace. Only a request with a repeated or missing id takes the item-by-item path.
A request with a `filter_path` (the agent's asks for the items' statuses only) gets
what Elasticsearch then answers: `{"errors":false,"items":[{"create":{"status":201}},...]}`.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import contextlib
import gzip
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

VERSION_ANSWER = orjson.dumps(
    {
        "name": "shipper-bench",
        "cluster_name": "shipper-bench",
        "version": {"number": "8.13.4", "build_flavor": "default"},
        "tagline": "You Know, for Search",
    }
)
STATS_PATH = "/_bench/stats"
DELAYS_PATH = "/_bench/delays"

_CREATED = b',"status":201,"result":"created"}}'
_ANSWER_HEAD = b'{"took":1,"errors":false,"items":['
_FILTERED_HEAD = b'{"errors":false,"items":['  # filter_path leaves out `took`
_TIMESTAMP_AT = len(b'{"@timestamp":"')
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 411: "Length Required"}


@dataclass(slots=True)
class Counts:
    """What arrived: documents, their distinct ids, and the tracked documents' delays."""

    requests: int = 0
    docs: int = 0
    repeated: int = 0  # documents whose id had arrived before
    body_bytes: int = 0
    # action lines: an id in its index (and op, which our agents never vary per id)
    seen: set[bytes] = field(default_factory=set)
    generated: int = 0  # documents sent without an id (each is distinct)
    delays: list[float] = field(default_factory=list)

    def as_json(self) -> bytes:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return orjson.dumps(
            {
                "requests": self.requests,
                "docs": self.docs,
                "distinct": len(self.seen) + self.generated,
                "repeated": self.repeated,
                "body_bytes": self.body_bytes,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "tracked": len(self.delays),
            }
        )


class BulkStore:
    """Answers `_bulk` bodies and keeps the counts."""

    def __init__(self, marker: bytes | None, us_per_doc: float = 0.0) -> None:
        self.counts = Counts()
        self.seconds_per_doc = us_per_doc / 1e6
        self.busy_until = 0.0  # the shared indexer's monotonic time when it is free again
        self.templates: dict[str, bytes] = {}
        self._marker = marker
        self._epochs: dict[bytes, int] = {}  # "YYYY-MM-DDTHH:MM:SS" -> epoch seconds

    def bulk(self, body: bytes, filtered: bool = False) -> tuple[int, bytes]:
        """(status, answer) for one `_bulk` body (already decompressed); `filtered`: the
        request named a filter_path, so only the items' statuses are answered."""
        arrived = time.time()
        lines = body.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        actions, docs = lines[0::2], lines[1::2]
        if not actions or len(actions) != len(docs):
            return 400, _error("action_request_validation_exception", "unpaired action lines")
        counts = self.counts
        fresh = set(actions).difference(counts.seen)
        joined = b"\n".join(actions)
        if (
            len(fresh) == len(actions)
            and joined.endswith(b"}}")
            and joined.count(b"}}\n") == len(actions) - 1
            and joined.count(b'"_id":') == len(actions)
        ):
            counts.seen |= fresh
            op = actions[0][: actions[0].find(b":") + 1]  # `{"create":`
            if filtered and joined.count(b"\n" + op) == len(actions) - 1:
                item = op + b'{"status":201}}'
                answer = _FILTERED_HEAD + b",".join([item] * len(actions)) + b"]}"
            else:
                items = joined.replace(b"}}\n", _CREATED + b",")
                answer = _ANSWER_HEAD + items[:-2] + _CREATED + b"]}"
        else:
            parsed = _parse_actions(actions)
            if isinstance(parsed, str):
                return 400, _error("illegal_argument_exception", parsed)
            answer = self._store_by_item(actions, parsed)
        counts.requests += 1
        counts.docs += len(docs)
        counts.body_bytes += len(body)
        if self._marker is not None and self._marker in body:
            self._track(docs, arrived)
        return 200, answer

    def _store_by_item(self, actions: list[bytes], parsed: list[_Action]) -> bytes:
        """The general path: repeated ids answered as Elasticsearch does, item by item."""
        counts = self.counts
        items = []
        errors = False
        for line, (op, index, doc_id) in zip(actions, parsed, strict=True):
            item: dict[str, Any] = {"_index": index, "_id": doc_id}
            if doc_id is None:
                counts.generated += 1
                item.update(_id=f"generated-{counts.generated}", status=201, result="created")
            elif line not in counts.seen:
                counts.seen.add(line)
                item.update(status=201, result="created")
            elif op == "index":
                counts.repeated += 1
                item.update(status=200, result="updated")
            else:
                counts.repeated += 1
                errors = True
                item.update(
                    status=409,
                    error={
                        "type": "version_conflict_engine_exception",
                        "reason": f"[{doc_id}]: version conflict, document already exists",
                    },
                )
            items.append({op: item})
        return orjson.dumps({"took": 1, "errors": errors, "items": items})

    def _track(self, docs: list[bytes], arrived: float) -> None:
        """Record arrival minus `@timestamp` of the documents carrying the marker."""
        marker = self._marker
        assert marker is not None
        for doc in docs:
            if marker in doc:
                stamp = doc[_TIMESTAMP_AT : doc.index(b'"', _TIMESTAMP_AT)]
                self.counts.delays.append(arrived - self._epoch(stamp))

    def _epoch(self, stamp: bytes) -> float:
        """Seconds since the epoch of a UTC RFC 3339 time (`...:SS[.fraction]Z`)."""
        whole = stamp[:19]
        seconds = self._epochs.get(whole)
        if seconds is None:
            parsed = time.strptime(whole.decode(), "%Y-%m-%dT%H:%M:%S")
            seconds = self._epochs[whole] = calendar.timegm(parsed)
        fraction = stamp[19:-1]
        return seconds + float(fraction) if fraction else float(seconds)


_Action = tuple[str, str, str | None]  # op, index, id


def _parse_actions(actions: list[bytes]) -> list[_Action] | str:
    """Each action line's op, index and id; or why the request is refused."""
    parsed = []
    for line in actions:
        try:
            ((op, meta),) = orjson.loads(line).items()
            parsed.append((op, meta.get("_index", ""), meta.get("_id")))
        except (orjson.JSONDecodeError, AttributeError, ValueError):
            return f"bad action {line[:100]!r}"
        if op not in ("create", "index"):
            return f"unsupported op {op!r}"
    return parsed


class _Request:
    __slots__ = ("close", "gzip", "length", "method", "target")

    def __init__(self, head: bytes) -> None:
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.method, self.target, version = request_line.split(" ", 2)
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        self.length = int(headers.get("content-length", "0"))
        self.gzip = headers.get("content-encoding") == "gzip"
        connection = headers.get("connection", "")
        self.close = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
        if "transfer-encoding" in headers:
            self.length = -1


class BulkProtocol(asyncio.Protocol):
    """One client connection: requests parsed from the byte stream, answered in order."""

    def __init__(self, store: BulkStore) -> None:
        self._store = store
        # Received bytes as they came: a 5 MiB body is joined once, never grown in place.
        self._received: list[bytes] = []
        self._received_bytes = 0
        self._request: _Request | None = None  # head parsed, body still arriving
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._received.append(data)
        self._received_bytes += len(data)
        while self._transport is not None and self._next():
            pass

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def _next(self) -> bool:
        """Answer the request at the head of what was received if it is complete."""
        if self._request is None:
            data = self._take()
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self._keep(data)
                return False
            self._request = _Request(data[:end])
            self._keep(data[end + 4 :])
        request = self._request
        if request.length < 0:  # chunked bodies: our clients never send them
            self._answer(
                411, _error("illegal_argument_exception", "send Content-Length", 411), True
            )
            return False
        if self._received_bytes < request.length:
            return False
        data = self._take()
        body = data[: request.length]  # the same object when nothing follows it
        self._keep(data[request.length :])
        self._request = None
        if request.gzip:
            body = gzip.decompress(body)
        status, answer = self._route(request, body)
        if status:  # 0: answered later
            self._answer(status, b"" if request.method == "HEAD" else answer, request.close)
        return True

    def _answer_when_indexed(self, request: _Request, body: bytes) -> None:
        """The slow mode: queue the documents on the shared indexer, answer when done."""
        store = self._store
        loop = asyncio.get_running_loop()
        docs = body.count(b"\n") // 2
        store.busy_until = max(loop.time(), store.busy_until) + docs * store.seconds_per_doc
        delay = store.busy_until - loop.time()

        def answer() -> None:
            status, content = store.bulk(body, "filter_path=" in request.target)
            if self._transport is not None:
                self._answer(status, content, request.close)

        loop.call_later(delay, answer)

    def _take(self) -> bytes:
        data = self._received[0] if len(self._received) == 1 else b"".join(self._received)
        self._received, self._received_bytes = [], 0
        return data

    def _keep(self, data: bytes) -> None:
        if data:
            self._received, self._received_bytes = [data], len(data)

    def _route(self, request: _Request, body: bytes) -> tuple[int, bytes]:
        store = self._store
        path = request.target.partition("?")[0]
        method = request.method
        if path.endswith("/_bulk") and method in ("POST", "PUT"):
            if store.seconds_per_doc:
                self._answer_when_indexed(request, body)
                return 0, b""
            return store.bulk(body, "filter_path=" in request.target)
        if path == "/" and method in ("GET", "HEAD"):
            return 200, VERSION_ANSWER
        if path == STATS_PATH:
            return 200, store.counts.as_json()
        if path == DELAYS_PATH:
            return 200, orjson.dumps(store.counts.delays)
        if path.startswith("/_index_template/"):
            name = path.removeprefix("/_index_template/")
            if method == "PUT":
                store.templates[name] = body
                return 200, b'{"acknowledged":true}'
            if name in store.templates:
                template = orjson.Fragment(store.templates[name])
                return 200, orjson.dumps(
                    {"index_templates": [{"name": name, "index_template": template}]}
                )
        return 404, _error("resource_not_found_exception", f"no such resource {path}", 404)

    def _answer(self, status: int, body: bytes, close: bool) -> None:
        transport = self._transport
        assert transport is not None
        ending = "connection: close\r\n\r\n" if close else "\r\n"
        head = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
            "content-type: application/json\r\nx-elastic-product: Elasticsearch\r\n"
            f"content-length: {len(body)}\r\n{ending}"
        )
        transport.write(head.encode() + body)
        if close:
            transport.close()
            self._transport = None


def _error(kind: str, reason: str, status: int = 400) -> bytes:
    return orjson.dumps({"error": {"type": kind, "reason": reason}, "status": status})


async def serve(port: int, marker: bytes | None, us_per_doc: float = 0.0) -> None:
    """Serve on 127.0.0.1:`port` (0: any free port), print `{"port": P}`, run until killed."""
    store = BulkStore(marker, us_per_doc)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: BulkProtocol(store), "127.0.0.1", port)
    bound = server.sockets[0].getsockname()[1]
    print(orjson.dumps({"port": bound}).decode(), flush=True)
    async with server:
        await server.serve_forever()


class EndpointProcess:
    """The endpoint in its own process, as a context manager for the benchmark."""

    def __init__(self, track: str | None = None, us_per_doc: float = 0.0, port: int = 0) -> None:
        """`port` 0: a free one (`url` says which)."""
        args = [sys.executable, "-m", "benchmarks.endpoint", "--port", str(port)]
        if track is not None:
            args += ["--track", track]
        if us_per_doc:
            args += ["--us-per-doc", str(us_per_doc)]
        self._proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1]
        )
        assert self._proc.stdout is not None
        first = self._proc.stdout.readline()
        if not first:
            self._proc.wait()
            raise RuntimeError(f"the bulk endpoint exited {self._proc.returncode} at start")
        self.url = f"http://127.0.0.1:{orjson.loads(first)['port']}"

    def stats(self) -> dict[str, Any]:
        """The counts so far (see `Counts.as_json`)."""
        stats: dict[str, Any] = self._get(STATS_PATH)
        return stats

    def delays(self) -> list[float]:
        """Arrival minus `@timestamp` of every tracked document so far, in seconds."""
        delays: list[float] = self._get(DELAYS_PATH)
        return delays

    def _get(self, path: str) -> Any:
        answer = httpx.get(self.url + path, timeout=30)
        answer.raise_for_status()
        return orjson.loads(answer.content)

    def close(self) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=10)
        assert self._proc.stdout is not None
        self._proc.stdout.close()

    def __enter__(self) -> EndpointProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.endpoint", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--track", help="record the delay of documents containing this text")
    parser.add_argument(
        "--us-per-doc", type=float, default=0.0, help="slow mode: indexing time per document"
    )
    args = parser.parse_args(argv)
    marker = args.track.encode() if args.track else None
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, marker, args.us_per_doc))


if __name__ == "__main__":
    main()
