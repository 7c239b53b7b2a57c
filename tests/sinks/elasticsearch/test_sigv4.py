"""SHIPPER_ES_AWS_REGION: every request signed with SigV4, credentials from the chain.

The test server checks each signature with tests/fakes/aws.py's own implementation of
the specification (not botocore's), and hands out temporary credentials as STS (IRSA)
and EKS Pod Identity's endpoint do.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from shipper.sinks.elasticsearch.aws_credentials import AwsCredentials, NoAwsCredentials
from tests.fakes.aws import BAD_SIGNATURE, AwsAccount, CredentialEndpoints, isolated_env
from tests.fakes.elasticsearch import FakeElasticsearch
from tests.sinks.support import Acks, es_settings, running

REGION = "eu-west-1"


@pytest.fixture(autouse=True)
def no_ambient_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in isolated_env().items():
        monkeypatch.setenv(name, value)


def _signed_requests(es: FakeElasticsearch) -> list[str]:
    return [r.headers.get("authorization", "") for r in es.requests]


@pytest.mark.parametrize(("service", "compression"), [("es", "none"), ("aoss", "gzip")])
async def test_environment_credentials_sign_every_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service: str, compression: str
) -> None:
    account = AwsAccount(REGION, service)
    key, secret = account.long_term()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    with FakeElasticsearch(version="2.17.1", distribution="opensearch", aws=account) as es:
        settings = es_settings(
            tmp_path,
            es.url,
            es_aws_region=REGION,
            es_aws_service=service,
            es_template="install",
            es_compression=compression,
        )
        async with running(settings) as sink:
            await sink.send(Acks().events(120))
            assert await sink.drain(5)
        assert es.count() == 120
        statuses = {r.status for r in es.requests}
        signed = _signed_requests(es)
    assert 403 not in statuses
    assert len(signed) >= 4 and all(
        a.startswith(f"AWS4-HMAC-SHA256 Credential={key}/") for a in signed
    )
    assert all(f"/{REGION}/{service}/aws4_request" in a for a in signed)


async def test_a_wrong_secret_is_refused_and_nothing_counts_as_delivered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    account = AwsAccount(REGION, "es")
    key, _ = account.long_term()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    acks = Acks()
    with FakeElasticsearch(aws=account) as es:
        settings = es_settings(
            tmp_path, es.url, es_aws_region=REGION, once=True, once_retry_timeout=0.3
        )
        async with running(settings) as sink:
            await sink.send(acks.events(3))
            assert not await sink.drain(5)
        assert es.count() == 0
        assert {r.status for r in es.requests} == {403}
    assert acks.committed == 0
    assert "The request signature we calculated does not match" in caplog.text


async def test_the_check_refuses_a_request_changed_after_signing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test server's own check is not a rubber stamp: one byte changed fails it."""
    account = AwsAccount(REGION, "es")
    key, secret = account.long_term()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    with FakeElasticsearch(aws=account) as es:
        async with running(es_settings(tmp_path, es.url, es_aws_region=REGION)) as sink:
            await sink.send(Acks().events(2))
            assert await sink.drain(5)
        bulk = next(r for r in es.requests if r.path == "/_bulk")
    assert account.check(bulk) is None
    body = bulk.wire_body.replace(b"line 0", b"line 9")
    assert account.check(replace(bulk, wire_body=body)) is not None
    assert account.check(replace(bulk, query={**bulk.query, "pipeline": "x"})) == BAD_SIGNATURE
    assert account.check(replace(bulk, method="PUT")) == BAD_SIGNATURE
    headers = {**bulk.headers, "x-amz-date": "20240501T120000Z"}
    assert "expired" in (account.check(replace(bulk, headers=headers)) or "")


@pytest.mark.parametrize(
    ("lifetime", "refreshed"), [(timedelta(hours=1), False), (timedelta(minutes=5), True)]
)
async def test_pod_identity_credentials_are_refreshed_before_they_expire(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lifetime: timedelta, refreshed: bool
) -> None:
    account = AwsAccount(REGION, "es")
    token_file = tmp_path / "eks-pod-identity-token"
    token_file.write_text("pod-identity-token")
    with CredentialEndpoints(account, lifetime, token="pod-identity-token") as endpoints:
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{endpoints.url}/v1/credentials")
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(token_file))
        with FakeElasticsearch(aws=account) as es:
            settings = es_settings(tmp_path, es.url, es_aws_region=REGION)
            async with running(settings) as sink:
                for n in range(3):
                    await sink.send(Acks().events(5, start=10 * n))
                    assert await sink.drain(5)
            assert es.count() == 15
            assert 403 not in {r.status for r in es.requests}
            used = {a.split("Credential=")[1].split("/")[0] for a in _signed_requests(es)}
    assert used <= set(endpoints.issued)
    if refreshed:  # within 10 minutes of expiry: new credentials before each use
        assert len(endpoints.issued) >= 3 and len(used) >= 3
    else:
        assert len(endpoints.issued) == 1 and len(used) == 1


async def test_irsa_web_identity_token_is_exchanged_at_sts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = AwsAccount(REGION, "es")
    token_file = tmp_path / "token"
    token_file.write_text("irsa-jwt")
    with CredentialEndpoints(account, timedelta(hours=1), token="irsa-jwt") as endpoints:
        monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
        monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/shipper")
        monkeypatch.setenv("AWS_ENDPOINT_URL_STS", endpoints.url)
        with FakeElasticsearch(aws=account) as es:
            settings = es_settings(tmp_path, es.url, es_aws_region=REGION)
            async with running(settings) as sink:
                await sink.send(Acks().events(7))
                assert await sink.drain(5)
            assert es.count() == 7
    assert len(endpoints.issued) == 1 and endpoints.refused == 0


async def test_no_credentials_anywhere_says_where_they_are_looked_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    with pytest.raises(NoAwsCredentials, match="AWS_WEB_IDENTITY_TOKEN_FILE"):
        await AwsCredentials(REGION).current()
