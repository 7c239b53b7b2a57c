"""Parsers of network addresses: base URLs (with their credentials), hosts, ports, paths."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

from shipper.config.parsers import whole_number
from shipper.net.urls import api_base

Credentials = tuple[str, str]  # (user, password) from a URL's user-info


def split_host_port(text: str) -> tuple[str, int]:
    """`host:port` or `[ipv6]:port` -> (host, port); the port may be 0 (any free port)."""
    host, sep, port = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError("put an IPv6 address in brackets (examples: [::]:24231, [::1]:24231)")
    if not sep or not host:
        raise ValueError("not host:port (examples: 0.0.0.0:24231, 127.0.0.1:9000, [::]:24231)")
    return host, port_number(port, minimum=0)


def listen_addr(text: str) -> str:
    split_host_port(text)
    return text.strip()


def port_number(text: str, *, minimum: int) -> int:
    port = whole_number(text) if text.strip() else -1
    if not minimum <= port <= 65535:
        raise ValueError(f"not a port number ({minimum}-65535)")
    return port


def port(text: str) -> int:
    return port_number(text, minimum=1)


def any_port(text: str) -> int:
    """A port to listen on: 0 takes a free one."""
    return port_number(text, minimum=0)


def url_and_credentials(text: str) -> tuple[str, Credentials | None]:
    """An http(s) base URL with a host, without its user-info; a trailing `/` is dropped so
    paths can be appended. The user-info, percent-decoded, is returned beside it."""
    url = text.strip().rstrip("/")
    parts = urlsplit(url)
    examples = "(examples: http://es:9200, https://[fd00::1]:9200/prefix)"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL with a host {examples}")
    if parts.query or parts.fragment:
        raise ValueError(f"a base URL has no query or fragment {examples}")
    try:
        parts.port  # noqa: B018 -- raises on a bad port
    except ValueError:
        raise ValueError(f"bad port {examples}") from None
    if parts.username is None and parts.password is None:
        return url, None
    netloc = parts.netloc.rpartition("@")[2]
    bare = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return bare, (unquote(parts.username or ""), unquote(parts.password or ""))


def kube_url(text: str) -> str:
    """The API server's base URL; it authenticates by token, never by URL credentials."""
    url, credentials = url_and_credentials(text)
    if credentials is not None:
        raise ValueError(
            "credentials in the URL are not used: the API server is authenticated with "
            "the service-account token (SHIPPER_KUBE_TOKEN_FILE)"
        )
    return url


def fluentd_kube_url(text: str) -> str:
    """The fluentd image's URL ends in `/api`; shipper wants the server's base URL."""
    return api_base(kube_url(text))


def bare_host(text: str) -> str:
    host = text.strip().removeprefix("[").removesuffix("]")
    if not host or any(char in host for char in "/@?# "):
        raise ValueError("not a host name or IP address (examples: es-0.logging, 10.0.0.7, ::1)")
    return host


def join_host_port(host: str, port: int) -> str:
    """`host:port`, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def url_path(text: str) -> str:
    """A URL prefix like `/es` (Elasticsearch behind a proxy); always `/x`, never `x/`."""
    path = text.strip().strip("/")
    if any(char in path for char in "?# "):
        raise ValueError("not a URL path (example: /elasticsearch)")
    return f"/{path}" if path else ""
