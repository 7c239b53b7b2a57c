"""KubeClient: base URL, TLS choice, token handling and errors, over real HTTP."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from shipper.net.urls import api_base
from shipper.settings import Settings
from shipper.transforms.kubernetes.client import KubeApiError, KubeClient, tls_verify
from tests.fakes.kube_apiserver import FakeKubeApiServer


def test_api_base_accepts_fluentd_style_url() -> None:
    assert api_base("https://10.0.0.1:443/api") == "https://10.0.0.1:443"
    assert api_base("https://10.0.0.1:443/api/") == "https://10.0.0.1:443"
    assert api_base("https://kube.example:6443/") == "https://kube.example:6443"


def test_tls_verify_uses_cluster_ca_when_present(tmp_path: Path) -> None:
    missing = str(tmp_path / "ca.crt")
    assert tls_verify(Settings(kube_ca_file=missing)) is True
    assert tls_verify(Settings(kube_ca_file=missing, kube_verify_tls=False)) is False
    ca = tmp_path / "real-ca.crt"
    ca.write_text(system_ca_pem())
    assert isinstance(tls_verify(Settings(kube_ca_file=str(ca))), ssl.SSLContext)


def system_ca_pem() -> str:
    """Any valid CA certificate will do: take one from the system store."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            text = Path(candidate).read_text()
            begin = text.index("-----BEGIN CERTIFICATE-----")
            end = text.index("-----END CERTIFICATE-----", begin) + len("-----END CERTIFICATE-----")
            return text[begin:end] + "\n"
    pytest.skip("no system CA bundle to borrow a certificate from")


def test_status_object_becomes_error() -> None:
    err = KubeApiError.from_status(
        {"kind": "Status", "reason": "Expired", "message": "too old resource version", "code": 410}
    )
    assert err.gone and err.reason == "Expired" and "too old" in str(err)
    assert not KubeApiError.from_status({"code": "bad"}).gone


async def test_unchanged_token_401_raises_after_one_try(tmp_path: Path) -> None:
    server_token = tmp_path / "server-token"
    server_token.write_text("right")
    client_token = tmp_path / "client-token"
    client_token.write_text("wrong")
    with FakeKubeApiServer(token_file=server_token) as fake:
        client = KubeClient(
            Settings(kube_url=fake.url + "/api", kube_token_file=str(client_token)), lambda: 0.0
        )
        try:
            with pytest.raises(KubeApiError) as raised:
                await client.get_json("/api/v1/pods")
            assert raised.value.code == 401 and raised.value.reason == "Unauthorized"
            assert fake.count("/api/v1/pods") == 1

            client_token.write_text("right")  # rotated: the next 401 re-reads it at once
            body = await client.get_json("/api/v1/pods")
            assert body["kind"] == "PodList"
            assert [r.status for r in fake.requests] == [401, 401, 200]

            with pytest.raises(KubeApiError) as raised:
                await client.get_json("/api/v1/namespaces/default/pods/nope")
            assert raised.value.code == 404
        finally:
            await client.aclose()


async def test_missing_token_file_sends_no_header(tmp_path: Path) -> None:
    with FakeKubeApiServer() as fake:
        client = KubeClient(
            Settings(kube_url=fake.url, kube_token_file=str(tmp_path / "none")), lambda: 0.0
        )
        try:
            assert (await client.get_json("/api/v1/namespaces"))["kind"] == "NamespaceList"
        finally:
            await client.aclose()
