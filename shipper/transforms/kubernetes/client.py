"""Access to the Kubernetes API server: base URL, bearer token, TLS; one HTTP client.

Service-account tokens are bound and rotate (kubelet rewrites the file about hourly),
so the token is re-read every minute and at once after a 401.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import orjson

from shipper.settings import Settings

log = logging.getLogger(__name__)

TOKEN_TTL = 60.0


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


def api_base(url: str) -> str:
    """The server's root URL; accepts Fluentd's `…/api` form (`FLUENT_FILTER_KUBERNETES_URL`)."""
    return url.rstrip("/").removesuffix("/api")


def tls_verify(settings: Settings) -> ssl.SSLContext | bool:
    """The cluster CA when its file exists, else the system's; nothing when told not to verify."""
    if not settings.kube_verify_tls:
        return False
    if os.path.isfile(settings.kube_ca_file):
        return ssl.create_default_context(cafile=settings.kube_ca_file)
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
        self, path: str, params: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> Any:
        """GET a JSON object; non-2xx answers raise `KubeApiError`."""
        response = await self.open(path, params, timeout)
        try:
            return orjson.loads(await response.aread())
        finally:
            await response.aclose()

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
            body = await response.aread()
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


def _error_from(code: int, body: bytes) -> KubeApiError:
    try:
        status = orjson.loads(body)
    except orjson.JSONDecodeError:
        return KubeApiError(code, "", body[:200].decode("utf-8", "replace"))
    if isinstance(status, dict):
        return KubeApiError.from_status({**status, "code": code})
    return KubeApiError(code)
