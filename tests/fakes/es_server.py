"""HTTP/1.1 plumbing of the fake Elasticsearch: a thread per connection, keep-alive, resets.

The application (FakeElasticsearch) decides the answers; this module reads requests (chunked and
gzip bodies included), writes answers with a correct Content-Length, resets connections on
demand, and cuts every open connection when the server stops.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import socketserver
import ssl
import struct
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import orjson

from tests.fakes.es_protocol import JsonDict, error_body

_HANDSHAKE_TIMEOUT = 10.0


@dataclass(frozen=True)
class RequestLog:
    """One request as it arrived; `status` 0 means the connection was reset instead of answered."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes  # decompressed
    status: int
    wire_body: bytes = b""  # as it came, before any Content-Encoding was undone


@dataclass
class Answer:
    """What to send back; no body for HEAD requests."""

    status: int
    body: JsonDict | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)


class Application(Protocol):
    """What the server calls for every request it read."""

    def serve(self, connection: Connection, request: RequestLog) -> None: ...

    def record(self, request: RequestLog, status: int) -> None: ...


class Server(ThreadingHTTPServer):
    """Threads per connection; knows its open connections so stop() can cut them."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], app: Application, ssl_context: ssl.SSLContext | None
    ) -> None:
        self.app = app
        self.ssl_context = ssl_context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, Connection)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall on DNS; not needed.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.ssl_context is not None:  # the handshake runs in the connection's own thread
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        return sock, address

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that vanish mid-request are part of the tests, not an error of the fake."""

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


def _chunk(data: bytes) -> bytes:
    """`data` framed as one chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class Connection(BaseHTTPRequestHandler):
    """Reads one request at a time off a keep-alive connection and hands it to the fake."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms ACK wait
    server: Server

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(_HANDSHAKE_TIMEOUT)
            self.request.do_handshake()
            self.request.settimeout(None)
        super().setup()

    def handle_one(self) -> None:
        split = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        try:
            wire = self._read_wire_body()
            body = gzip.decompress(wire) if self._gzipped() else wire
        except (ValueError, OSError, EOFError, zlib.error) as exc:
            request = RequestLog(self.command, split.path, query, headers, b"", 0)
            self.close_connection = True
            self.server.app.record(request, 400)
            self.reply(Answer(400, error_body("parse_exception", f"unreadable body: {exc}", 400)))
            return
        request = RequestLog(self.command, split.path, query, headers, body, 0, wire)
        self.server.app.serve(self, request)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = handle_one

    def _gzipped(self) -> bool:
        return self.headers.get("Content-Encoding", "").lower() == "gzip"

    def _read_wire_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = b"".join(self._read_chunks())
        else:
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0:
                raise ValueError(f"negative Content-Length {length}")
            body = self.rfile.read(length)
            if len(body) < length:
                raise EOFError("the body ended before Content-Length")
        return body

    def _read_chunks(self) -> Iterable[bytes]:
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return
            yield self.rfile.read(size)
            self.rfile.readline(1024)

    def reply(self, answer: Answer) -> None:
        payload = (
            b"" if answer.body is None or self.command == "HEAD" else orjson.dumps(answer.body)
        )
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-elastic-product", "Elasticsearch")
        for name, value in answer.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def reply_bytes(self, status: int, payload: bytes, cut_at: float = 1.0) -> None:
        """An answer of exactly these bytes (whatever they hold) with a matching length; with
        `cut_at` below 1, the connection closes after that fraction of them."""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload[: int(len(payload) * cut_at)])
        if cut_at < 1.0:
            self.wfile.flush()
            self.close_connection = True

    def reply_endless(self, pause: float, stopping: threading.Event) -> None:
        """A chunked 200 answer that never ends (until the client goes or the server stops):
        64 KiB chunks back to back, or one byte every `pause` seconds."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        piece = b" " if pause else b'{"create":{"status":201}},' * 2500
        with contextlib.suppress(OSError):
            self.wfile.write(_chunk(b'{"errors":false,"items":['))
            while not stopping.is_set():
                self.wfile.write(_chunk(piece))
                self.wfile.flush()
                if pause:
                    stopping.wait(pause)

    def abort(self) -> None:
        """Drop the connection with a TCP reset: the client sees no answer at all."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `FakeElasticsearch.requests` instead."""
