"""Access to the Kubernetes API server: base URL, bearer token, TLS; one HTTP client.

Service-account tokens are bound and rotate (kubelet rewrites the file about hourly),
so the token is re-read every minute and at once after a 401.

No answer is trusted to end: each is read within a size cap and a total deadline,
past which the attempt fails like any other (`AnswerTooLarge`, `AnswerUnreadable`),
so an endless or huge answer costs bounded memory and time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx
import orjson

from shipper.net.capped import read_capped
from shipper.net.tls import client_context
from shipper.net.urls import api_base
from shipper.settings import Settings

log = logging.getLogger(__name__)

TOKEN_TTL = 60.0
MIB = 1 << 20
# A node's pod list (110 pods of ~20 KiB) is a few MiB, a big cluster's namespace list
# less: room to spare, and still a bound.
MAX_LIST_BYTES = 64 * MIB
MAX_OBJECT_BYTES = 4 * MIB  # one object, or one watch line: etcd stores at most 1.5 MiB
MAX_ERROR_BYTES = 64 * 1024  # of an error answer, only this much is read (for the log)
LIST_DEADLINE = 60.0  # seconds for a whole LIST, answer read included


class AnswerUnreadable(ValueError):
    """An answer past its size cap or its deadline: the attempt failed."""


class KubeApiError(Exception):
    """The API server answered with an error status (HTTP, or a watch ERROR event)."""

    def __init__(self, code: int, reason: str = "", message: str = "") -> None:
        super().__init__(f"Kubernetes API error {code} {reason}: {message}".rstrip(": "))
        self.code = code
        self.reason = reason

    @property
    def gone(self) -> bool:
        """410: the resource version asked for is no longer in the server's history."""
        return self.code == 410

    @classmethod
    def from_status(cls, status: Mapping[str, Any], fallback_code: int = 500) -> KubeApiError:
        """From a `Status` object, as error bodies and watch ERROR events carry it."""
        code = status.get("code")
        return cls(
            code if isinstance(code, int) else fallback_code,
            str(status.get("reason") or ""),
            str(status.get("message") or ""),
        )


def tls_verify(settings: Settings) -> ssl.SSLContext | bool:
    """The cluster CA when its file exists, else the system's; nothing when told not to verify."""
    if not settings.kube_verify_tls:
        return False
    if os.path.isfile(settings.kube_ca_file):
        return client_context(ca_file=settings.kube_ca_file)
    return True


class KubeClient:
    """GETs against the API server with a fresh bearer token; errors as `KubeApiError`."""

    def __init__(
        self, settings: Settings, clock: Callable[[], float], token_ttl: float = TOKEN_TTL
    ) -> None:
        if not settings.kube_url:
            raise ValueError("Kubernetes API URL is not set")
        self.base_url = api_base(settings.kube_url)
        self._token_file = settings.kube_token_file
        self._clock = clock
        self._token_ttl = token_ttl
        self._token: str | None = None
        self._token_read_at: float | None = None
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            verify=tls_verify(settings),
            timeout=httpx.Timeout(settings.request_timeout, connect=10.0),
            headers={"Accept": "application/json", "User-Agent": "shipper"},
        )

    async def get_json(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        limit: int | None = None,
        deadline: float | None = None,
    ) -> Any:
        """GET a JSON document of at most `limit` bytes within `deadline` seconds (default:
        a LIST's), or raise `AnswerTooLarge`/`AnswerUnreadable`; non-2xx answers raise
        `KubeApiError`."""
        limit = MAX_LIST_BYTES if limit is None else limit
        deadline = LIST_DEADLINE if deadline is None else deadline
        try:
            async with asyncio.timeout(deadline):
                response = await self.open(path, params)
                try:
                    return orjson.loads(await read_capped(response, limit))
                finally:
                    await response.aclose()
        except TimeoutError:
            raise AnswerUnreadable(f"no whole answer within {deadline:.0f} s") from None

    async def open(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        timeout: float | httpx.Timeout | None = None,
    ) -> httpx.Response:
        """Send a GET and return the response with its body still streaming (caller closes it).

        A 401 is retried once at once when the token file holds a new token.
        """
        request_timeout: Any = httpx.USE_CLIENT_DEFAULT if timeout is None else timeout
        for _attempt in range(2):
            token = self._current_token()
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            request = self._http.build_request(
                "GET", path, params=params, headers=headers, timeout=request_timeout
            )
            response = await self._http.send(request, stream=True)
            if response.is_success:
                return response
            body = await _read_start(response, MAX_ERROR_BYTES)
            await response.aclose()
            if response.status_code == 401 and self._reload_token() != token:
                log.info("Kubernetes API answered 401: retrying with the rotated token")
                continue
            break
        raise _error_from(response.status_code, body)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _current_token(self) -> str | None:
        now = self._clock()
        if self._token_read_at is None or now - self._token_read_at >= self._token_ttl:
            self._reload_token()
        return self._token

    def _reload_token(self) -> str | None:
        self._token_read_at = self._clock()
        try:
            with open(self._token_file, encoding="utf-8") as f:
                self._token = f.read().strip() or None
            if self._token and len(self._token.split()) > 1:  # never into a header, or a log
                log.warning(
                    "Kubernetes token file %s holds several words: not used", self._token_file
                )
                self._token = None
        except FileNotFoundError:
            self._token = None
        except OSError as exc:
            log.warning("cannot read Kubernetes token file %s: %s", self._token_file, exc)
        return self._token


async def capped_lines(response: httpx.Response, limit: int) -> AsyncIterator[bytes]:
    """The body's lines (without their newline); `AnswerUnreadable` for a line over `limit`."""
    pending: list[bytes] = []  # the pieces of the line being read
    pending_size = 0
    async for chunk in response.aiter_bytes():
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            if pending:
                pending.append(chunk[start:end])
                line = b"".join(pending)
                pending, pending_size = [], 0
            else:
                line = chunk[start:end]
            if len(line) > limit:
                raise AnswerUnreadable(f"a line over the cap of {limit:,} bytes")
            yield line
            start = end + 1
        if start < len(chunk):
            pending.append(chunk[start:])
            pending_size += len(chunk) - start
            if pending_size > limit:
                raise AnswerUnreadable(f"a line over the cap of {limit:,} bytes")
    if pending:
        yield b"".join(pending)


async def _read_start(response: httpx.Response, limit: int) -> bytes:
    """At most the first `limit` bytes of the body (enough to say what went wrong)."""
    chunks = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


def _error_from(code: int, body: bytes) -> KubeApiError:
    try:
        status = orjson.loads(body)
    except orjson.JSONDecodeError:
        return KubeApiError(code, "", body[:200].decode("utf-8", "replace"))
    if isinstance(status, dict):
        return KubeApiError.from_status({**status, "code": code})
    return KubeApiError(code)
