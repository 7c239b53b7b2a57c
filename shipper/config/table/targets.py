"""Targets beside daily indices: data streams, lifecycle, Amazon OpenSearch, ECS."""

from __future__ import annotations

from shipper.config.parsers import at_least, aws_region, choice, policy_name, whole_number
from shipper.config.table.variable import Variable
from shipper.sinks.elasticsearch.data_stream import parse_data_stream

TARGETS = (
    Variable(
        "SHIPPER_ES_DATA_STREAM",
        "es_data_stream",
        "`<type>-<dataset>-<namespace>`, e.g. `logs-kubernetes-{kubernetes.namespace_name}`: "
        "write to this data stream instead of `SHIPPER_ES_INDEX` (see Targets). `{a.b.c}` "
        "placeholders as in the index; their values lower-cased, with `-` and the characters "
        "index names forbid turned into `_`; no dates. `create` only "
        "(`SHIPPER_ES_OP_TYPE=index` is an error)",
        parse_data_stream,
    ),
    Variable(
        "SHIPPER_ES_LIFECYCLE_POLICY",
        "es_lifecycle_policy",
        "an ILM policy name put in the installed template (`index.lifecycle.name`). "
        "OpenSearch takes ISM policies only from the policy's own `ism_template`: there a "
        "warning says so",
        policy_name,
    ),
    Variable(
        "SHIPPER_ES_TEMPLATE_PRIORITY",
        "es_template_priority",
        "the installed template's priority; unset, `200`, or `99` when the pattern covers "
        "`logs-*-*`: by default it never shadows Elasticsearch's built-in `logs-*-*` "
        "template (priority 100) for names it does not own",
        at_least(whole_number, 0, "0"),
    ),
    Variable(
        "SHIPPER_ES_AWS_REGION",
        "es_aws_region",
        "sign every request with AWS SigV4 for Amazon OpenSearch Service or Serverless in "
        "this region (needs `pip install 'shipper[aws]'`; not with `SHIPPER_ES_USER` or "
        "`_API_KEY`). Credentials: the standard chain (see Targets)",
        aws_region,
    ),
    Variable(
        "SHIPPER_ES_AWS_SERVICE",
        "es_aws_service",
        "`es` (OpenSearch Service domains) or `aoss` (Serverless collections); needs "
        "`SHIPPER_ES_AWS_REGION`",
        choice("es", "aoss"),
        default="es",
    ),
    Variable(
        "SHIPPER_SCHEMA",
        "schema",
        "`fluentd`: the document shape above, unchanged; `ecs`: Elastic Common Schema names "
        "(see Targets). With `ecs`, `SHIPPER_MERGE_JSON_KEY` may not be empty nor name a "
        "top-level ECS field of ours (`message`, `log`, `tags`, `container`, `kubernetes`, "
        "`host`, `ecs`)",
        choice("fluentd", "ecs"),
        default="fluentd",
    ),
)
