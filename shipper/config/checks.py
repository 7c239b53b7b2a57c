"""Settings that only make sense together: checked after each has been read on its own."""

from __future__ import annotations

from shipper.config.reader import Reader


def check_pairs(r: Reader) -> None:
    """TLS client certificate and key; user and password; a user or an API key."""
    cert, key = r.first("SHIPPER_ES_CLIENT_CERT"), r.first("SHIPPER_ES_CLIENT_KEY")
    if cert and not key:
        r.fail(cert, r.value(cert), "TLS client authentication also needs SHIPPER_ES_CLIENT_KEY")
    if key and not cert:
        r.fail(key, r.value(key), "TLS client authentication also needs SHIPPER_ES_CLIENT_CERT")
    user = r.first("SHIPPER_ES_USER", "FLUENT_ELASTICSEARCH_USER")
    password = r.first("SHIPPER_ES_PASSWORD", "FLUENT_ELASTICSEARCH_PASSWORD")
    if password and not user:
        r.fail(password, r.value(password), "basic authentication also needs SHIPPER_ES_USER")
    if user and r.first("SHIPPER_ES_API_KEY"):
        r.fail(
            user, r.value(user), "set either a user and password or SHIPPER_ES_API_KEY, not both"
        )
