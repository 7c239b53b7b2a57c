"""Settings that only make sense together: checked after each has been read on its own."""

from __future__ import annotations

from shipper.config.reader import Reader
from shipper.settings import Settings
from shipper.transforms.encoding.our_fields import ECS_FIELDS

_DEFAULTS = Settings()


def check_pairs(r: Reader) -> None:
    """TLS client certificate and key; user and password; a user or an API key; then
    the targets' (`_check_targets`)."""
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
    _check_targets(r)


def _check_targets(r: Reader) -> None:
    """A data stream takes only `create`; SigV4 signs instead of a user or an API key, and
    needs a region; ECS documents leave the JSON key none of their own fields."""
    op_type = r.first("SHIPPER_ES_OP_TYPE")
    if r.first("SHIPPER_ES_DATA_STREAM") and op_type and r.value(op_type) != "create":
        r.fail(
            op_type,
            r.value(op_type),
            "a data stream (SHIPPER_ES_DATA_STREAM) takes only create: unset it or set create",
        )
    region = r.first("SHIPPER_ES_AWS_REGION")
    if region and r.first("SHIPPER_ES_API_KEY", "SHIPPER_ES_USER", "FLUENT_ELASTICSEARCH_USER"):
        r.fail(
            region,
            r.value(region),
            "requests are signed with AWS SigV4: unset SHIPPER_ES_API_KEY and SHIPPER_ES_USER",
        )
    service = r.first("SHIPPER_ES_AWS_SERVICE")
    if service and not region:
        r.fail(service, r.value(service), "needs SHIPPER_ES_AWS_REGION (example: us-east-1)")
    schema = r.first("SHIPPER_SCHEMA")
    json_key = r.raw("SHIPPER_MERGE_JSON_KEY")
    json_key = _DEFAULTS.merge_json_key if json_key is None else json_key
    if (
        schema
        and r.value(schema).strip().lower() == "ecs"
        and (json_key == "" or json_key in ECS_FIELDS)
    ):
        r.fail(
            "SHIPPER_MERGE_JSON_KEY",
            json_key,
            "with SHIPPER_SCHEMA=ecs an application's fields go under a key that is not one "
            "of the document's own (example: json)",
        )
