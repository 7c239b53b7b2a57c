"""The target variables: SHIPPER_OUTPUT=opensearch, data streams, lifecycle, priority,
AWS SigV4 and SHIPPER_SCHEMA; each bad value names its variable."""

from __future__ import annotations

from typing import Any

import pytest

from shipper.config import ConfigError, explain, ignored_variables, load_settings
from shipper.settings import Output

HOSTS = {"SHIPPER_ES_HOSTS": "http://127.0.0.1:9200"}


def errors_of(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings({**HOSTS, **env})
    return caught.value.errors


@pytest.mark.parametrize(
    ("env", "field", "expected"),
    [
        ({"SHIPPER_OUTPUT": "OpenSearch"}, "output", Output("elasticsearch", None, "opensearch")),
        ({"SHIPPER_ES_DATA_STREAM": "logs-k8s-{kubernetes.namespace_name}"}, "es_data_stream",
         "logs-k8s-{kubernetes.namespace_name}"),
        ({"SHIPPER_ES_DATA_STREAM": "logs-k8s-default", "SHIPPER_ES_OP_TYPE": "create"},
         "es_op_type", "create"),
        ({"SHIPPER_ES_LIFECYCLE_POLICY": "logs-30d"}, "es_lifecycle_policy", "logs-30d"),
        ({"SHIPPER_ES_TEMPLATE_PRIORITY": "150"}, "es_template_priority", 150),
        ({"SHIPPER_ES_AWS_REGION": "EU-West-1"}, "es_aws_region", "eu-west-1"),
        ({"SHIPPER_ES_AWS_REGION": "us-east-1", "SHIPPER_ES_AWS_SERVICE": "aoss"},
         "es_aws_service", "aoss"),
        ({"SHIPPER_ES_AWS_REGION": "us-east-1", "SHIPPER_ES_AWS_SERVICE": "aoss"}, "es_id", "none"),
        ({"SHIPPER_ES_AWS_REGION": "us-east-1", "SHIPPER_ES_AWS_SERVICE": "aoss",
          "SHIPPER_ES_ID": "auto"}, "es_id", "auto"),
        ({"SHIPPER_ES_AWS_REGION": "us-east-1"}, "es_id", "auto"),
        ({"SHIPPER_SCHEMA": "ECS"}, "schema", "ecs"),
        ({}, "schema", "fluentd"),
    ],
)  # fmt: skip
def test_target_variables(env: dict[str, str], field: str, expected: Any) -> None:
    assert getattr(load_settings({**HOSTS, **env}), field) == expected


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SHIPPER_ES_DATA_STREAM": "logs-%Y.%m.%d-x"}, "SHIPPER_ES_DATA_STREAM='logs-%Y.%m.%d-x'"),
        ({"SHIPPER_ES_DATA_STREAM": "logs"}, "not <type>-<dataset>-<namespace>"),
        ({"SHIPPER_ES_DATA_STREAM": "logs-a-b", "SHIPPER_ES_OP_TYPE": "index"},
         "SHIPPER_ES_OP_TYPE='index': a data stream"),
        ({"SHIPPER_ES_TEMPLATE_PRIORITY": "-1"}, "SHIPPER_ES_TEMPLATE_PRIORITY='-1'"),
        ({"SHIPPER_ES_LIFECYCLE_POLICY": "a b"}, "SHIPPER_ES_LIFECYCLE_POLICY='a b'"),
        ({"SHIPPER_ES_AWS_REGION": "europe"}, "SHIPPER_ES_AWS_REGION='europe': not an AWS region"),
        ({"SHIPPER_ES_AWS_SERVICE": "aoss"}, "SHIPPER_ES_AWS_SERVICE='aoss': needs"),
        ({"SHIPPER_ES_AWS_REGION": "us-east-1", "SHIPPER_ES_AWS_SERVICE": "s3"},
         "SHIPPER_ES_AWS_SERVICE='s3'"),
        ({"SHIPPER_ES_AWS_REGION": "us-east-1", "SHIPPER_ES_API_KEY": "k"},
         "SHIPPER_ES_AWS_REGION='us-east-1': requests are signed"),
        ({"SHIPPER_SCHEMA": "otel"}, "SHIPPER_SCHEMA='otel': not one of: fluentd, ecs"),
        ({"SHIPPER_SCHEMA": "ecs", "SHIPPER_MERGE_JSON_KEY": ""}, "SHIPPER_MERGE_JSON_KEY="),
        ({"SHIPPER_SCHEMA": "ecs", "SHIPPER_MERGE_JSON_KEY": "message"},
         "SHIPPER_MERGE_JSON_KEY='message': with SHIPPER_SCHEMA=ecs"),
    ],
)  # fmt: skip
def test_bad_target_values_name_their_variable(env: dict[str, str], expected: str) -> None:
    errors = errors_of(env)
    assert len(errors) == 1, errors
    assert expected in errors[0]


def test_without_the_aws_extra_the_region_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shipper.config.parsers.aws_available", lambda: False)
    (error,) = errors_of({"SHIPPER_ES_AWS_REGION": "us-east-1"})
    assert "SHIPPER_ES_AWS_REGION='us-east-1'" in error and "shipper[aws]" in error


def test_new_variables_are_known_and_explained() -> None:
    env = {**HOSTS, "SHIPPER_SCHEMA": "ecs", "SHIPPER_ES_DATA_STREAM": "logs-a-b"}
    assert ignored_variables(env) == []
    shown = {line.variable: line for line in explain(env)}
    assert shown["SHIPPER_SCHEMA"].value == "ecs" and shown["SHIPPER_SCHEMA"].source == "variable"
    assert shown["SHIPPER_ES_AWS_SERVICE"].source == "default"
    aoss = {**HOSTS, "SHIPPER_ES_AWS_REGION": "us-east-1", "SHIPPER_ES_AWS_SERVICE": "aoss"}
    assert {line.variable: line for line in explain(aoss)}["SHIPPER_ES_ID"].source.startswith(
        "derived"
    )
