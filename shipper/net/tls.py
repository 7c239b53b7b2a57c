"""The one way the agent builds a TLS client context (Elasticsearch, Kubernetes API)."""

from __future__ import annotations

import ssl

import httpx


def client_context(
    *,
    ca_file: str | None = None,
    verify: bool = True,
    cert_file: str | None = None,
    key_file: str | None = None,
) -> ssl.SSLContext:
    """Trust `ca_file` (else the CAs httpx trusts), verify the server unless `verify` is
    false, and present `cert_file`/`key_file` when given."""
    context = ssl.create_default_context(cafile=ca_file) if ca_file else httpx.create_ssl_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert_file:
        context.load_cert_chain(cert_file, key_file)
    return context
