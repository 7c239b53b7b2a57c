"""`/metrics`, `/healthz` and `/readyz` on SHIPPER_METRICS_ADDR, served on the event loop.

A tiny HTTP/1.1 responder: Prometheus and kubelet probes send plain GETs, and
answering from the loop itself is what `/healthz` is meant to prove. `/readyz`
answers 503 with the reason the agent gives (tailing not started, a task down, the
output failing for over a minute).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shipper.config import split_host_port
from shipper.observe.metrics import Metrics

log = logging.getLogger("shipper.server")


class ObserveServer:
    def __init__(self, addr: str, metrics: Metrics, not_ready: Callable[[], str | None]) -> None:
        """`not_ready` says why the agent is not ready, or None when it is."""
        self._host, self._port = split_host_port(addr)
        self._metrics = metrics
        self._not_ready = not_ready
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int | None:
        if self._server is None or not self._server.sockets:
            return None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._handle, self._host, self._port)
        except OSError as exc:
            log.error(
                "cannot serve metrics and health endpoints; shipping goes on without them",
                extra={"addr": f"{self._host}:{self._port}", "error": str(exc)},
            )
            return
        log.info("serving /metrics, /healthz, /readyz", extra={"port": self.port})

    async def run(self) -> None:
        """Serve until cancelled; if `start` could not bind, try again (an OSError here lets
        the supervisor retry with backoff)."""
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, self._host, self._port)
            log.info("serving /metrics, /healthz, /readyz", extra={"port": self.port})
        await self._server.serve_forever()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                method, path = _request_line(request)
                status, ctype, body = self._answer(method, path)
                head = (
                    f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode()
                writer.write(head + (b"" if method == "HEAD" else body))
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            pass
        except Exception as exc:  # a bug answering: this connection ends, serving goes on
            self._metrics.internal_errors.labels(task="metrics-server").inc()
            log.error("answering a request to the metrics server failed", exc_info=exc)
        finally:
            writer.close()

    def _answer(self, method: str, path: str) -> tuple[str, str, bytes]:
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", "text/plain", b"method not allowed\n"
        path = path.split("?", 1)[0]
        if path == "/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, generate_latest(self._metrics.registry)
        if path == "/healthz":
            return "200 OK", "text/plain", b"ok\n"
        if path == "/readyz":
            why = self._not_ready()
            if why is None:
                return "200 OK", "text/plain", b"ready\n"
            return "503 Service Unavailable", "text/plain", f"not ready: {why}\n".encode()
        return "404 Not Found", "text/plain", b"not found\n"


def _request_line(request: bytes) -> tuple[str, str]:
    parts = request.split(b"\r\n", 1)[0].split(b" ")
    if len(parts) < 2:
        return "", ""
    return parts[0].decode("latin-1"), parts[1].decode("latin-1")
