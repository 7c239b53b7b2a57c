"""Elasticsearch's answers, shaped as the real server writes them.

The shapes below were looked up, not guessed; the fake builds exactly these.

GET /  (Root API, elastic.co/guide/en/elasticsearch/reference/8.19/rest-api-root.html)
    {"name", "cluster_name", "cluster_uuid",
     "version": {"number", "build_flavor", "build_type", "build_hash", "build_date",
                 "build_snapshot", "lucene_version", "minimum_wire_compatibility_version",
                 "minimum_index_compatibility_version"},
     "tagline": "You Know, for Search"}

GET /  on OpenSearch (docs.opensearch.org "Cluster information API"; the opensearch-java
    client's InfoResponse version object, which writes these fields in this order)
    {"name", "cluster_name", "cluster_uuid",
     "version": {"distribution": "opensearch", "number", "build_type", "build_hash",
                 "build_date", "build_snapshot", "lucene_version",
                 "minimum_wire_compatibility_version", "minimum_index_compatibility_version"},
     "tagline": "The OpenSearch Project: https://opensearch.org/"}
    No build_flavor. 1.x is Elasticsearch 7.10's code: bulk items carry "_type": "_doc" and
    errors have 7.x wording; 2.x dropped mapping types (no "_type").
  An unknown field type in a template (flattened on OpenSearch, flat_object before 2.7 or on
    Elasticsearch): 400 mapper_parsing_exception "No handler for type [flattened] declared
    on field [labels]" (MapperService / ObjectMapper.TypeParser), wrapped as "Failed to parse
    mapping [_doc]: ...".
Data streams (elastic.co data-streams.html, use-a-data-stream.html; rest-api-spec
    indices.rollover): a template with "data_stream": {} makes the first `create` to a
    matching name a data stream; its backing indices are .ds-<name>-<yyyy.MM.dd>-<000001>
    (Elasticsearch 7.11+; before, and on OpenSearch: .ds-<name>-<000001>), the `_index` of
    every item answer. `index` without op_type create: 400
    illegal_argument_exception "only write ops with an op_type of create are allowed in data
    streams". POST /<name>/_rollover: {"acknowledged": true, "shards_acknowledged": true,
    "old_index", "new_index", "rolled_over": true, "dry_run": false, "conditions": {}}.

POST /_bulk item answers (docs-bulk.html response body; elastic/elasticsearch-py#2594 et al.)
    {"took": 30, "errors": false, "items": [{"create": {"_index": "test", "_id": "1",
     "_version": 1, "result": "created", "_shards": {"total": 2, "successful": 1, "failed": 0},
     "_seq_no": 0, "_primary_term": 1, "status": 201}}]}
    7.x adds "_type": "_doc" to every item.  `index` over an existing id: 200 "updated".
    `delete` of a missing id: 404 "not_found" without an "error" (not a failure).
  409 (legrego/homeassistant-elasticsearch#261, VersionType.explainConflictForWrites):
    {"status": 409, "error": {"type": "version_conflict_engine_exception",
     "reason": "[<id>]: version conflict, document already exists (current version [1])",
     "index_uuid": "...", "shard": "0", "index": "<index>"}}
  429 (elastic/elasticsearch#38482, YelpArchive/elastalert#1228):
    {"type": "es_rejected_execution_exception", "reason": "rejected execution of ... on
     EsThreadPoolExecutor[name = <node>/write, queue capacity = 10000, ...]"}
  400 mapping conflicts (kube-logging/logging-operator#1660, uken/fluent-plugin-elasticsearch#1041,
    monstache#604, DocumentParser.throwOnConcreteValue; 8.x prefixes "[line:column] "):
    8.x {"type": "document_parsing_exception", "reason": "[1:242] object mapping for
         [kubernetes.labels.app] tried to parse field [app] as object, but found a concrete value"}
    8.x {"type": "document_parsing_exception", "reason": "[1:660] failed to parse field
         [kubernetes.labels.app] of type [text] in document with id 'x'. Preview of field's
         value: '{kubernetes={io/name=web}}'", "caused_by": {"type": "illegal_state_exception",
         "reason": "Can't get text on a START_OBJECT at 1:122"}}
    7.x {"type": "mapper_parsing_exception", "reason": "Could not dynamically add mapping for
         field [app.kubernetes.io/component]. Existing mapping for [kubernetes.labels.app] must
         be of type object but found [text]."}   (a dotted key under a concrete field)
  400 index names (MetadataCreateIndexService.validateIndexOrAliasName):
    {"type": "invalid_index_name_exception", "reason": "Invalid index name [X], must be lowercase"}

Whole-request errors: {"error": {"root_cause": [{"type", "reason"}], "type", "reason"},
                       "status": N}
  400 "The bulk request must be terminated by a newline [\\n]"  (BulkRequestParser.findNextMarker)
  400 "Malformed action/metadata line [1], expected field [create], [delete], [index] or
       [update] but found [x]"  (BulkRequestParserTests)
  400 action_request_validation_exception "Validation Failed: 1: index is missing;"
  503 cluster_block_exception "blocked by: [SERVICE_UNAVAILABLE/2/no master];"
      (KongZ/charts#40 shows the same shape for SERVICE_UNAVAILABLE/1/state not recovered)
  429 es_rejected_execution_exception "rejected execution of coordinating operation
      [coordinating_and_primary_bytes=..., ..., max_coordinating_and_primary_bytes=...]"
      (indexing pressure; wazuh/wazuh-indexer#1547)
  401 security_exception "missing authentication credentials for REST request [/_bulk]" with
      "header": {"WWW-Authenticate": ["Basic realm=\\"security\\" charset=\\"UTF-8\\"", ...]}
      (discuss.elastic.co/t/259528)
  404 resource_not_found_exception "index template matching [x] not found" (GET _index_template)
  Simple errors (RestController): 400 {"error": "no handler found for uri [/x] and method [GET]",
  "status": 400}, 405 "Incorrect HTTP method for uri [/_bulk] and method [GET], allowed: [POST,
  PUT]", 406 "Content-Type header [text/plain] is not supported".
GET /_index_template/x: {"index_templates": [{"name": "x", "index_template": {...,
  "composed_of": []}}]}; settings come back normalized ({"index": {"number_of_shards": "1"}}).
"""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

JsonDict = dict[str, Any]

WWW_AUTHENTICATE = ('Basic realm="security" charset="UTF-8"', 'Bearer realm="security"', "ApiKey")


def error_body(kind: str, reason: str, status: int, **extra: Any) -> JsonDict:
    """The standard whole-request error envelope, root cause included."""
    cause = {"type": kind, "reason": reason, **extra}
    return {"error": {"root_cause": [cause], **cause}, "status": status}


def simple_error(message: str, status: int) -> JsonDict:
    """The flat shape the REST layer uses before any handler runs."""
    return {"error": message, "status": status}


def cluster_info(version: str, cluster_name: str) -> JsonDict:
    """The root endpoint's answer, which clients use to detect the server version."""
    major = int(version.split(".")[0])
    uuid = hashlib.sha1(cluster_name.encode()).hexdigest()[:22]
    return {
        "name": "fake-es-0",
        "cluster_name": cluster_name,
        "cluster_uuid": uuid,
        "version": {
            "number": version,
            "build_flavor": "default",
            "build_type": "docker",
            "build_hash": "0" * 40,
            "build_date": "2024-08-05T10:05:34.233336849Z",
            "build_snapshot": False,
            "lucene_version": "9.11.1" if major >= 8 else "8.11.1",
            "minimum_wire_compatibility_version": f"{major - 1}.17.0",
            "minimum_index_compatibility_version": f"{major - 1}.0.0",
        },
        "tagline": "You Know, for Search",
    }


def opensearch_info(version: str, cluster_name: str) -> JsonDict:
    """OpenSearch's root endpoint answer: `version.distribution` names it."""
    major = int(version.split(".")[0])
    uuid = hashlib.sha1(cluster_name.encode()).hexdigest()[:22]
    return {
        "name": "fake-os-0",
        "cluster_name": cluster_name,
        "cluster_uuid": uuid,
        "version": {
            "distribution": "opensearch",
            "number": version,
            "build_type": "tar",
            "build_hash": "0" * 40,
            "build_date": "2024-08-05T10:05:34.233336849Z",
            "build_snapshot": False,
            "lucene_version": "9.11.1" if major >= 2 else "8.10.1",
            "minimum_wire_compatibility_version": "7.10.0" if major >= 2 else "6.8.0",
            "minimum_index_compatibility_version": "7.0.0" if major >= 2 else "6.0.0",
        },
        "tagline": "The OpenSearch Project: https://opensearch.org/",
    }


def outage_error(status: int, body_bytes: int) -> JsonDict:
    """What a struggling cluster answers to a whole request."""
    if status == 503:
        reason = "blocked by: [SERVICE_UNAVAILABLE/2/no master];"
        return error_body("cluster_block_exception", reason, status)
    if status == 429:
        limit = 107374182
        reason = (
            f"rejected execution of coordinating operation [coordinating_and_primary_bytes="
            f"{limit - 1}, replica_bytes=0, all_bytes={limit - 1}, coordinating_operation_bytes="
            f"{body_bytes}, max_coordinating_and_primary_bytes={limit}]"
        )
        return error_body("es_rejected_execution_exception", reason, status)
    return error_body("exception", "simulated failure of the fake Elasticsearch", status)


def rejected_item_error(status: int, index: str) -> JsonDict:
    """A bulk item refused by a busy or broken shard (429: the write queue is full)."""
    if status == 503:
        reason = (
            f"[{index}][0] primary shard is not active Timeout: [1m], request: "
            f"[BulkShardRequest [[{index}][0]] containing [1] requests]"
        )
        return {"type": "unavailable_shards_exception", "reason": reason}
    if status != 429:
        return {"type": "exception", "reason": "simulated item failure of the fake Elasticsearch"}
    reason = (
        "rejected execution of org.elasticsearch.action.bulk.TransportShardBulkAction$1@5a8f3c21"
        " on EsThreadPoolExecutor[name = fake-es-0/write, queue capacity = 10000, "
        "org.elasticsearch.common.util.concurrent.EsThreadPoolExecutor@1f0b2c6d[Running, "
        "pool size = 8, active threads = 8, queued tasks = 10000, completed tasks = 48213]]"
    )
    return {"type": "es_rejected_execution_exception", "reason": reason}


def version_conflict_error(index: str, doc_id: str, index_uuid: str, current: int) -> JsonDict:
    """`create` of an id that already exists."""
    reason = f"[{doc_id}]: version conflict, document already exists (current version [{current}])"
    return {
        "type": "version_conflict_engine_exception",
        "reason": reason,
        "index_uuid": index_uuid,
        "shard": "0",
        "index": index,
    }


def auth_error(target: str, authorization: str | None, username: str | None) -> JsonDict:
    """401 for a request whose credentials are missing or wrong."""
    if not authorization:
        reason = f"missing authentication credentials for REST request [{target}]"
    elif authorization.startswith("Basic ") and username:
        reason = f"unable to authenticate user [{username}] for REST request [{target}]"
    else:
        reason = (
            "unable to authenticate with provided credentials and anonymous access is not "
            "allowed for this request"
        )
    header = {"WWW-Authenticate": list(WWW_AUTHENTICATE)}
    return error_body("security_exception", reason, 401, header=header)


def java_preview(value: Any) -> str:
    """A JSON value as Java's Map/List toString prints it in ES's "Preview" texts."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={java_preview(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(java_preview(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def auto_id() -> str:
    """An Elasticsearch-style generated id: 20 URL-safe base64 characters."""
    return base64.urlsafe_b64encode(os.urandom(15)).decode()
