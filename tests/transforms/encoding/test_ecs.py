"""SHIPPER_SCHEMA=ecs: the same records with Elastic Common Schema names."""

from __future__ import annotations

import orjson

from shipper.observe.metrics import Metrics
from shipper.record import AckTracker, Documents, Record, Records
from shipper.transforms.encoding.document import file_fields
from shipper.transforms.encoding.ecs import ECS_VERSION, EcsDocumentEncoder
from shipper.transforms.encoding.json_fields import JsonFields

CID = "ab" * 32
PATH = "/var/log/containers/web-7d9c_default_nginx-" + CID + ".log"
EXTRA = {
    "host": "node-1",
    "pod_ip": "10.0.0.7",
    "labels": {"app": "web", "app.kubernetes.io/name": "web"},
    "container_image": "nginx:1.27",
    "container_image_id": "docker.io/library/nginx@sha256:" + "c" * 64,
}
FIELDS = file_fields("default", "web-7d9c", "nginx", "0b1c2d3e-4f50", CID, EXTRA)


def encode(records: list[Record], json: JsonFields | None = None) -> Documents:
    tracker = AckTracker(0, lambda offset: None, lambda n: None)
    encoder = EcsDocumentEncoder("1:2:abc", CID, FIELDS, PATH)
    encoder.json = json
    return encoder.encode(Records.of(records), tracker.issue(len(records), 0, 0))


def test_the_ecs_document() -> None:
    docs = encode([Record("2024-05-01T12:00:00.123456789Z", "stderr", 'say "hi"', 7)])
    assert orjson.loads(docs.docs[0]) == {
        "@timestamp": "2024-05-01T12:00:00.123456789Z",
        "message": 'say "hi"',
        "log": {"iostream": "stderr", "file": {"path": PATH}},
        "container": {
            "id": CID,
            "name": "nginx",
            "image": {"name": "nginx:1.27", "hash": {"all": ["sha256:" + "c" * 64]}},
        },
        "kubernetes": {
            "namespace": "default",
            "pod": {"name": "web-7d9c", "uid": "0b1c2d3e-4f50", "ip": "10.0.0.7"},
            "node": {"name": "node-1"},
            "container": {"name": "nginx"},
            "labels": {"app": "web", "app.kubernetes.io/name": "web"},
        },
        "host": {"name": "node-1"},
        "ecs": {"version": ECS_VERSION},
    }
    assert docs.docs[0].endswith(b"}\n") and docs.docs[0].count(b"\n") == 1
    assert docs.fields is FIELDS  # index name placeholders keep their fluentd names
    assert docs.times == [b"2024-05-01T12:00:00.123456789Z"] and docs.offsets == [7]


def test_truncated_and_json_fields() -> None:
    json = JsonFields("json", Metrics())
    docs = encode(
        [
            Record("2024-05-01T12:00:00Z", "stdout", '{"level":"warn"}', 0, True),
            Record("2024-05-01T12:00:01Z", "stdout", "plain", 10),
        ],
        json,
    )
    first, second = map(orjson.loads, docs.docs)
    assert first["tags"] == ["truncated"] and first["json"] == {"level": "warn"}
    assert "tags" not in second and "json" not in second
    assert first["log"]["iostream"] == "stdout"


def test_without_metadata_only_what_is_known() -> None:
    tracker = AckTracker(0, lambda offset: None, lambda n: None)
    encoder = EcsDocumentEncoder("k", None, {}, "/x.log")
    docs = encoder.encode(
        Records.of([Record("2024-05-01T12:00:00Z", "stdout", "x", 0)]), tracker.issue(1, 0, 0)
    )
    assert orjson.loads(docs.docs[0]) == {
        "@timestamp": "2024-05-01T12:00:00Z",
        "message": "x",
        "log": {"iostream": "stdout", "file": {"path": "/x.log"}},
        "ecs": {"version": ECS_VERSION},
    }
