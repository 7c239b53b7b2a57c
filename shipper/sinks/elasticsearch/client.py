"""The one HTTP client to Elasticsearch: auth, TLS, keep-alive sized to the concurrency.

With both an API key and a user set, the API key is used: one request carries one
`Authorization` header. Every answer is read within a size cap and a total deadline:
an endless or trickling answer (a proxy gone wrong) fails like a refused connection
instead of taking the process's memory or holding a request forever.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Sequence
from typing import Any

import httpx
import orjson

from shipper import __version__
from shipper.net.capped import read_capped
from shipper.net.tls import client_context
from shipper.settings import SinkSettings
from shipper.sinks.elasticsearch.distribution import Cluster, cluster_of
from shipper.sinks.elasticsearch.sigv4 import sigv4_auth
from shipper.sinks.failures import explain_request

log = logging.getLogger("shipper.elasticsearch")
PROBE_TIMEOUT = 5.0  # seconds per host for start-up requests: never hold start-up long
ANSWER_MAX_BYTES = 8 * 1024 * 1024  # GET / and template calls: far above a real answer
TLS_LISTEN = 1.0  # seconds `tls_alert` waits for an alert after the handshake


class Unreachable(Exception):
    """No host gave an HTTP answer; `causes` says why for each, in plain words."""

    def __init__(self, message: str, causes: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.causes = list(causes)


def build_client(settings: SinkSettings) -> httpx.AsyncClient:
    """The process's client to the cluster in `settings`."""
    headers = {"User-Agent": f"shipper/{__version__}"}
    auth: httpx.Auth | None = None
    if settings.es_api_key:
        headers["Authorization"] = f"ApiKey {settings.es_api_key}"
    elif settings.es_user:
        auth = httpx.BasicAuth(settings.es_user, settings.es_password or "")
    elif settings.es_aws_region:
        auth = sigv4_auth(settings)
    connections = settings.concurrency * max(1, len(settings.es_hosts)) + 1
    return httpx.AsyncClient(
        headers=headers,
        auth=auth,
        verify=tls_context(settings),
        timeout=httpx.Timeout(settings.request_timeout),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        follow_redirects=False,
    )


def tls_context(settings: SinkSettings) -> ssl.SSLContext:
    """Server verification (SHIPPER_ES_CA_FILE, SHIPPER_ES_TLS_VERIFY) and client cert.

    With only `http://` hosts and no TLS file given, no connection uses TLS: a context
    that trusts nothing spares loading the CA bundle (1.7 MiB held for the process's
    life), and would refuse any TLS server rather than trust it.
    """
    if not (settings.es_ca_file or settings.es_client_cert or _any_https(settings.es_hosts)):
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return client_context(
        ca_file=settings.es_ca_file,
        verify=settings.es_tls_verify,
        cert_file=settings.es_client_cert,
        key_file=settings.es_client_key,
    )


def _any_https(hosts: Sequence[str]) -> bool:
    return any(host.lower().startswith("https:") for host in hosts)


async def first_answer(
    client: httpx.AsyncClient, hosts: Sequence[str], method: str, path: str, **kwargs: Any
) -> httpx.Response:
    """The answer of the first host, in order, that gives one whole within PROBE_TIMEOUT and
    ANSWER_MAX_BYTES; `Unreachable` (saying why for each host) if none does."""
    deadline = min(PROBE_TIMEOUT, client.timeout.read or PROBE_TIMEOUT)
    errors = []
    causes = []
    for host in hosts:
        request = client.build_request(
            method, f"{host.rstrip('/')}{path}", timeout=deadline, **kwargs
        )
        try:
            async with asyncio.timeout(deadline):
                response = await client.send(request, stream=True)
                try:
                    content = await read_capped(response, ANSWER_MAX_BYTES)
                finally:
                    await response.aclose()
        except Exception as exc:  # any failure is this host's: try the next one
            causes.append(explain_request(exc, deadline))
            errors.append(f"{host}: {causes[-1]}")
            continue
        return httpx.Response(response.status_code, content=content, request=request)
    raise Unreachable("; ".join(errors) or "no host configured", causes)


async def tls_alert(settings: SinkSettings, host: str) -> str | None:
    """Why the TLS server at `host` ends a connection right after the handshake, in plain
    words, or None when it does not within TLS_LISTEN seconds.

    A TLS 1.3 server that wants a client certificate finishes the handshake, then sends
    an alert and closes; a request still sending its body is reset and never reads the
    alert. A connection that only listens after the handshake reads it.
    """
    url = httpx.URL(host)
    writer = None
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            reader, writer = await asyncio.open_connection(
                url.host, url.port or 443, ssl=tls_context(settings), server_hostname=url.host
            )
        async with asyncio.timeout(TLS_LISTEN):
            await reader.read(1)
    except TimeoutError:
        return None
    except Exception as exc:  # the alert, or whatever else ends the connection
        return explain_request(exc)
    finally:
        if writer is not None:
            writer.close()
    return None


async def log_cluster_version(client: httpx.AsyncClient, hosts: Sequence[str]) -> Cluster | None:
    """Log the cluster's engine, version and name (`GET /`); a warning, never an error, when
    down or not understood."""
    try:
        response = await first_answer(client, hosts, "GET", "/")
    except Unreachable as exc:
        log.warning("Elasticsearch not reachable at start-up, will keep trying: %s", exc)
        return None
    if response.status_code != 200:
        log.warning(
            "Elasticsearch answered GET / with %s: %.200s", response.status_code, response.text
        )
        return None
    try:
        info = orjson.loads(response.content)
        cluster = cluster_of(info)
    except (orjson.JSONDecodeError, ValueError):
        log.warning("unexpected answer to GET /: %.200s", response.text)
        return None
    log.info(
        "connected to %s (cluster %s) at %s",
        cluster,
        info.get("cluster_name", "?"),
        response.request.url,
    )
    return cluster


async def probe_cluster(client: httpx.AsyncClient, hosts: Sequence[str]) -> Cluster | None:
    """The cluster `GET /` describes, quietly; None when no usable answer came."""
    try:
        response = await first_answer(client, hosts, "GET", "/")
        return cluster_of(orjson.loads(response.content)) if response.status_code == 200 else None
    except (Unreachable, orjson.JSONDecodeError, ValueError):
        return None
