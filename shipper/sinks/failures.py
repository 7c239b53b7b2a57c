"""Plain words for what a delivery attempt raised, and the log line that says it.

Whatever a request or a write raises is one failed attempt, retried: the operator
needs to know why and what to change, in one line, not a traceback.
"""

from __future__ import annotations

import errno
import logging
import ssl
from typing import TypeVar

import httpx

from shipper.net.capped import AnswerTooLarge

_CLIENT_CERT = (
    "Elasticsearch asks for a client certificate: "
    "set SHIPPER_ES_CLIENT_CERT and SHIPPER_ES_CLIENT_KEY"
)
# OpenSSL reasons (upper case) -> what to do about them
_TLS_WORDS = (
    (("CERTIFICATE_REQUIRED",), _CLIENT_CERT),
    (
        ("CERTIFICATE_VERIFY_FAILED",),
        "the certificate of Elasticsearch is not trusted: set SHIPPER_ES_CA_FILE to the CA "
        "that signed it",
    ),
    (
        ("BAD_CERTIFICATE", "UNKNOWN_CA", "CERTIFICATE_UNKNOWN", "ACCESS_DENIED"),
        "Elasticsearch refused our client certificate: check SHIPPER_ES_CLIENT_CERT and "
        "SHIPPER_ES_CLIENT_KEY (signed by a CA it trusts?)",
    ),
    (
        ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"),
        "no TLS at that address: use http:// in SHIPPER_ES_HOSTS, or check the port",
    ),
)
_STATUS_WORDS = {
    401: "the credentials were refused: check SHIPPER_ES_USER and SHIPPER_ES_PASSWORD, "
    "or SHIPPER_ES_API_KEY",
    403: "the user may not write there: grant it the create_doc (or index) privilege "
    "on the indices of SHIPPER_ES_INDEX",
    404: "no _bulk API at that address: check the path in SHIPPER_ES_HOSTS",
    429: "Elasticsearch is overloaded (429): sending again after a pause",
}
_OS_WORDS = {
    errno.ENOSPC: "no space left on the device: free some space",
    errno.EDQUOT: "disk quota exceeded: free some space or raise the quota",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n, the container's nofile)",
    errno.ENFILE: "too many open files on the system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.EPIPE: "the reader of the pipe went away",
    errno.EIO: "input/output error (a failing disk?)",
}


_E = TypeVar("_E", bound=BaseException)


def explain_request(exc: BaseException, timeout: float | None = None) -> str:
    """What a failed request to Elasticsearch means, and what to do about it, in a line."""
    tls = _find(exc, ssl.SSLError)
    if tls is not None:
        reason = str(tls.reason or tls).upper()
        for markers, words in _TLS_WORDS:
            if any(marker in reason for marker in markers):
                return words
        return f"TLS error: {tls}"
    if isinstance(exc, AnswerTooLarge):
        return f"{exc}: is SHIPPER_ES_HOSTS the address of Elasticsearch?"
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        within = f" {timeout:g} s" if timeout else " the deadline"
        return (
            f"no whole answer within{within}: Elasticsearch is overloaded or unreachable "
            "(SHIPPER_REQUEST_TIMEOUT)"
        )
    system = _find(exc, OSError)
    if system is not None and system.errno in (errno.EMFILE, errno.ENFILE):
        return _OS_WORDS[system.errno]  # no descriptor left to connect with
    if _find(exc, ConnectionRefusedError) is not None:
        return "connection refused: is Elasticsearch running at that address (SHIPPER_ES_HOSTS)?"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc or type(exc).__name__}): check SHIPPER_ES_HOSTS"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the connection closed before a whole answer came ({exc})"
    if isinstance(exc, httpx.NetworkError) or _find(exc, ConnectionError) is not None:
        return f"the connection failed ({exc or type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"


def connection_lost(exc: BaseException) -> bool:
    """Whether the connection broke without saying why (a reset, a closed pipe): over TLS,
    that can be an alert lost to the reset while the body was still being sent."""
    if _find(exc, ssl.SSLError) is not None:
        return False
    return isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError) or (
        _find(exc, ConnectionError) is not None
    )


def explain_status(status: int) -> str:
    """What an answer refusing a whole request means."""
    if status in _STATUS_WORDS:
        return _STATUS_WORDS[status]
    if status >= 500:
        return "the cluster is failing or overloaded: sending again after a pause"
    return "unexpected: is SHIPPER_ES_HOSTS the address of Elasticsearch?"


def explain_write(path: str, exc: BaseException) -> str:
    """What a failed open, write or fsync of `path` means, in a line."""
    code = getattr(exc, "errno", None)
    words = _OS_WORDS.get(code) if isinstance(code, int) else None
    if words is None:
        words = getattr(exc, "strerror", None) or f"{type(exc).__name__}: {exc}"
    return f"cannot write {path}: {words}"


def _find(exc: BaseException, kind: type[_E]) -> _E | None:
    """`exc`, or the exception it was raised from, of `kind` (httpx wraps what it catches)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


class FailureLog:
    """Logs each failed attempt's cause, and its end; keeps the last cause for the final
    line of `--once`. A kind of failure is its message template (with the variable parts
    as arguments), so the log's own collapsing of repeats (`shipper.observe.logging`)
    folds the retries of one kind into one line with a count."""

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._failing = False
        self.last: str | None = None  # the latest cause, kept after recovery

    def failed(self, level: int, template: str, *args: object) -> None:
        """One failed attempt, said by `template % args`."""
        self.last = template % args
        self._failing = True
        self._log.log(level, template, *args)

    def recovered(self, what: str) -> None:
        """An attempt worked: say so if a failure was logged."""
        if self._failing:
            self._failing = False
            self._log.info("%s works again", what)
