"""Plain words for failed attempts, and a log that says each cause once."""

import errno
import logging
import ssl

import httpx
import pytest

from shipper.net.capped import AnswerTooLarge
from shipper.sinks.failures import (
    FailureLog,
    explain_request,
    explain_write,
)


def _wrapped(cause: BaseException) -> httpx.ReadError:
    try:
        try:
            raise cause
        except BaseException as exc:
            raise httpx.ReadError("read failed") from exc
    except httpx.ReadError as wrapped:
        return wrapped


def test_tls_alerts_name_the_settings_to_change() -> None:
    alert = ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert")
    alert.reason = "TLSV13_ALERT_CERTIFICATE_REQUIRED"  # type: ignore[misc]
    words = "set SHIPPER_ES_CLIENT_CERT and SHIPPER_ES_CLIENT_KEY"
    assert words in explain_request(alert)
    assert words in explain_request(_wrapped(alert))  # as httpx may wrap it
    untrusted = ssl.SSLError(1, "x")
    untrusted.reason = "CERTIFICATE_VERIFY_FAILED"  # type: ignore[misc]
    assert "SHIPPER_ES_CA_FILE" in explain_request(untrusted)


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (TimeoutError(), "no whole answer within 30 s"),
        (AnswerTooLarge("the answer is larger than 10 bytes"), "larger than 10 bytes"),
        (httpx.ConnectError("x"), "check SHIPPER_ES_HOSTS"),
        (_wrapped(ConnectionRefusedError()), "connection refused"),
        (RuntimeError("boom"), "RuntimeError: boom"),
        (_wrapped(OSError(errno.EMFILE, "Too many open files")), "too many open files"),
    ],
)
def test_request_failures_in_plain_words(exc: BaseException, words: str) -> None:
    assert words in explain_request(exc, 30.0)


def test_write_failures_name_the_path() -> None:
    full = OSError(errno.ENOSPC, "No space left on device")
    assert explain_write("/dev/full", full) == (
        "cannot write /dev/full: no space left on the device: free some space"
    )
    assert "ulimit -n" in explain_write("/x", OSError(errno.EMFILE, "Too many open files"))


def test_failures_are_logged_by_template_and_recovery_is_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = FailureLog(logging.getLogger("test.failures"))
    with caplog.at_level(logging.INFO, "test.failures"):
        failures.recovered("delivery")  # nothing failed: nothing to say
        failures.failed(logging.WARNING, "down at %s", "100%")
        failures.failed(logging.ERROR, "other")
        failures.recovered("delivery")
    assert caplog.messages == ["down at 100%", "other", "delivery works again"]
    # the template is the kind of line the log folds repeats of
    assert [r.msg for r in caplog.records][:2] == ["down at %s", "other"]
    assert failures.last == "other"
