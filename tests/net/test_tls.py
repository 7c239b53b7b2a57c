"""client_context: what is trusted, whether the server is verified, what is presented."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from shipper.net.tls import client_context


def test_verifies_the_server_against_the_default_cas_by_default() -> None:
    context = client_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.get_ca_certs()  # the CAs httpx trusts


def test_trusts_only_the_ca_file_given(tmp_path: Path) -> None:
    ca = trustme.CA()
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    context = client_context(ca_file=str(path))
    assert len(context.get_ca_certs()) == 1
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_not_verifying_checks_neither_certificate_nor_name() -> None:
    context = client_context(verify=False)
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname


def test_a_client_certificate_is_presented_and_a_bad_one_refused(tmp_path: Path) -> None:
    chain = tmp_path / "client.pem"
    trustme.CA().issue_cert("shipper").private_key_and_cert_chain_pem.write_to_path(str(chain))
    client_context(cert_file=str(chain))  # the key in the same file
    not_a_cert = tmp_path / "not-a-cert.pem"
    not_a_cert.write_text("not a certificate")
    with pytest.raises(ssl.SSLError):
        client_context(cert_file=str(not_a_cert))
