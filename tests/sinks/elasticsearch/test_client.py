"""The sink's client: credentials, TLS, and what start-up says about the cluster."""

import logging
import ssl
from pathlib import Path

import pytest
import trustme

from shipper.observe.metrics import Metrics
from shipper.sinks.elasticsearch.client import tls_context
from tests.fakes.elasticsearch import FakeElasticsearch
from tests.sinks.support import (
    Acks,
    closed_port_url,
    es_settings,
    eventually,
    running,
    sample,
)


@pytest.mark.parametrize("api_key", [False, True])
async def test_credentials(tmp_path: Path, api_key: bool) -> None:
    acks = Acks()
    if api_key:
        fake = FakeElasticsearch(api_key="a2V5OnNlY3JldA==")
        credentials = {"es_api_key": "a2V5OnNlY3JldA=="}
    else:
        fake = FakeElasticsearch(username="elastic", password="changeme")
        credentials = {"es_user": "elastic", "es_password": "changeme"}
    with fake as es:
        async with running(es_settings(tmp_path, es.url, **credentials)) as sink:
            await sink.send(acks.events(5))
            assert await sink.drain(5)
        assert es.count() == 5
        expected = "ApiKey a2V5OnNlY3JldA==" if api_key else "Basic ZWxhc3RpYzpjaGFuZ2VtZQ=="
        assert all(r.headers["authorization"] == expected for r in es.requests)


async def test_wrong_credentials_are_retried_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metrics, acks = Metrics(), Acks()
    with FakeElasticsearch(username="elastic", password="right") as es:
        settings = es_settings(tmp_path, es.url, es_user="elastic", es_password="wrong")
        async with running(settings, metrics) as sink:
            await sink.send(acks.events(5))
            await eventually(
                lambda: sample(metrics, "shipper_bulk_requests_total", status="401") >= 2
            )
            assert not await sink.drain(0.1)
        assert es.count() == 0
    assert acks.commits == []
    assert any(r.levelno == logging.ERROR and "401" in r.getMessage() for r in caplog.records)


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_fake(authority: trustme.CA):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    with FakeElasticsearch(ssl_context=context) as es:
        yield es


async def test_tls_with_a_private_ca(tmp_path: Path, authority: trustme.CA, tls_fake) -> None:
    acks = Acks()
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    assert tls_fake.url.startswith("https://")
    async with running(es_settings(tmp_path, tls_fake.url, es_ca_file=str(ca_file))) as sink:
        await sink.send(acks.events(5))
        assert await sink.drain(5)
    assert tls_fake.count() == 5


async def test_tls_verify_off_and_on(tmp_path: Path, tls_fake) -> None:
    acks = Acks()
    async with running(es_settings(tmp_path, tls_fake.url, es_tls_verify=False)) as sink:
        await sink.send(acks.events(5))
        assert await sink.drain(5)
    assert tls_fake.count() == 5
    metrics = Metrics()
    async with running(es_settings(tmp_path, tls_fake.url), metrics) as sink:  # unknown CA
        await sink.send(acks.events(5, start=5))
        assert not await sink.drain(0.5)
    assert sample(metrics, "shipper_bulk_requests_total", status="error") >= 1
    assert tls_fake.count() == 5


async def test_start_logs_the_version_or_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shipper.elasticsearch")
    with FakeElasticsearch(version="8.15.0") as es:
        async with running(es_settings(tmp_path, closed_port_url(), es.url)):
            pass
    assert any("8.15.0" in r.getMessage() for r in caplog.records)
    caplog.clear()
    async with running(es_settings(tmp_path, closed_port_url())):  # never fails start-up
        pass
    assert any(r.levelno == logging.WARNING for r in caplog.records)


def test_plain_http_hosts_load_no_ca_bundle_but_https_ones_do(tmp_path: Path) -> None:
    plain = tls_context(es_settings(tmp_path, "http://127.0.0.1:9200").sink)
    assert plain.cert_store_stats()["x509_ca"] == 0  # and would trust no TLS server
    assert plain.verify_mode == ssl.CERT_REQUIRED
    mixed = tls_context(es_settings(tmp_path, "http://a:9200", "HTTPS://b:9200").sink)
    if ssl.create_default_context().cert_store_stats()["x509_ca"] == 0:
        pytest.skip("no system CA bundle here to see loaded")
    assert mixed.cert_store_stats()["x509_ca"] > 0
