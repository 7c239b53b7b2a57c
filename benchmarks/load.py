"""The bulk endpoint measured alone: pre-built `_bulk` bodies posted from another process.

    python -m benchmarks.load --url http://127.0.0.1:PORT [--seconds 3] [--connections 2]

Bodies look like the agent's (about 400-byte documents, 10,000 a request, ids
unique across the run) and are built once; each request only stamps a fresh id
prefix into the template, so the sender costs far less than the endpoint it feeds.
Prints `{"docs": N, "seconds": S, "docs_per_s": R}`.
"""

from __future__ import annotations

import argparse
import random
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import orjson

DOCS_PER_REQUEST = 10_000
_ROUND = b"RRRRRRRRRR"  # replaced by a request-unique prefix in every id
_FIELDS = orjson.dumps(
    {
        "docker": {"container_id": "c0ffee" * 10 + "beef"},
        "kubernetes": {
            "namespace_name": "payments",
            "pod_name": "ledger-5f7d8c9b4-x2x9q",
            "container_name": "app",
            "pod_id": "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
        },
    }
)


def bulk_template(docs: int, seed: int = 1) -> bytes:
    """A `_bulk` body of `docs` create actions whose ids all contain `_ROUND`."""
    rng = random.Random(seed)
    words = ["request", "served", "user", "order", "payment", "ledger", "retry", "cache"]
    parts = []
    for n in range(docs):
        message = " ".join(rng.choices(words, k=8 + rng.randrange(40)))
        action = b'{"create":{"_index":"logstash-2024.05.01","_id":"%s-%x"}}\n' % (_ROUND, n)
        doc = b'{"@timestamp":"2024-05-01T12:00:00.%09dZ","stream":"stdout","log":%s,%s\n' % (
            n,
            orjson.dumps(message),
            _FIELDS[1:],
        )
        parts += [action, doc]
    return b"".join(parts)


def _post_until(host: str, port: int, template: bytes, lane: int, deadline: float) -> int:
    """Post bodies on one keep-alive connection until `deadline`; the documents acked."""
    run = time.time_ns()  # ids stay unique when the same endpoint is measured twice
    acked = 0
    with socket.create_connection((host, port)) as sock:
        reader = sock.makefile("rb")
        for round_ in range(1 << 40):
            if time.monotonic() >= deadline:
                break
            body = template.replace(_ROUND, b"%x-%x-%x" % (run, lane, round_))
            head = (
                b"POST /_bulk HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-ndjson\r\n"
                b"Content-Length: %d\r\n\r\n" % (host.encode(), len(body))
            )
            sock.sendall(head + body)
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            answer = reader.read(length)
            if b'"errors":false' not in answer[:64]:
                raise RuntimeError(f"the endpoint refused items: {answer[:200]!r}")
            acked += DOCS_PER_REQUEST
    return acked


def measure(url: str, seconds: float, connections: int) -> dict[str, float]:
    """Documents per second the endpoint at `url` acknowledges."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    template = bulk_template(DOCS_PER_REQUEST)
    started = time.monotonic()
    deadline = started + seconds
    with ThreadPoolExecutor(connections) as pool:
        lanes = [
            pool.submit(_post_until, host, port, template, n, deadline) for n in range(connections)
        ]
        docs = sum(lane.result() for lane in lanes)
    elapsed = time.monotonic() - started
    return {"docs": docs, "seconds": round(elapsed, 3), "docs_per_s": round(docs / elapsed)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=2)
    args = parser.parse_args(argv)
    print(orjson.dumps(measure(args.url, args.seconds, args.connections)).decode())


if __name__ == "__main__":
    main()
