"""JSON application logs as document fields: under a key, or merged without touching ours."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shipper.observe.metrics import Metrics
from shipper.record import AckTracker, Record, Records
from shipper.settings import Settings
from shipper.transforms.encoding.document import DocumentEncoder
from shipper.transforms.encoding.json_fields import (
    MAX_JSON_CHARS,
    MAX_JSON_DEPTH,
    JsonFields,
)
from tests.transforms.multiline.test_joiner import File, cri, pod

FIELDS = {"docker": {"container_id": "ab" * 32}, "kubernetes": {"pod_name": "web-1"}}
NESTED = '{"level":"info","http":{"status":503,"path":"/orders","retries":[1,2]},"ok":false}'


def strict(doc: bytes) -> dict[str, Any]:
    """The document parsed, failing on a duplicate key (Elasticsearch rejects those)."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        assert len(keys) == len(set(keys)), f"duplicate keys in {doc!r}"
        return dict(items)

    parsed: dict[str, Any] = json.loads(doc, object_pairs_hook=pairs)
    return parsed


def encode(key: str | None, *logs: str, truncated: bool = False) -> list[dict[str, Any]]:
    encoder = DocumentEncoder("k", "ab" * 32, FIELDS)
    metrics = Metrics()
    if key is not None:
        encoder.json = JsonFields(key, metrics)
    ticket = AckTracker(0, lambda o: None, lambda n: None).issue(len(logs), 0, 0)
    records = [
        Record("2024-05-01T12:00:00.5Z", "stdout", log, i, truncated) for i, log in enumerate(logs)
    ]
    docs = [strict(doc) for doc in encoder.encode(Records.of(records), ticket).docs]
    failures = metrics.registry.get_sample_value("shipper_json_parse_failures_total")
    dropped = metrics.registry.get_sample_value("shipper_json_keys_dropped_total")
    return [*docs, {"failures": failures, "dropped": dropped}]


def test_a_json_object_goes_under_the_key_and_log_is_kept() -> None:
    [doc, counted] = encode("json", NESTED)
    assert doc["json"] == json.loads(NESTED)
    assert doc["log"] == NESTED
    assert doc["kubernetes"] == FIELDS["kubernetes"] and doc["stream"] == "stdout"
    assert counted["failures"] == 0


def test_unicode_escapes_are_decoded_in_the_fields_and_kept_in_log() -> None:
    text = r'{"msg":"caf\u00e9 \ud83d\ude00 \u6771\u4eac","tab":"a\tb"}'
    [doc, _] = encode("app", text)
    assert doc["app"] == {"msg": "café 😀 東京", "tab": "a\tb"}
    assert doc["log"] == text


def test_anything_but_an_object_stays_plain_text_and_is_counted() -> None:
    logs = ["[1, 2, 3]", "42", '"a string"', "true", "null", '{"cut": "in the mid', "{oops}"]
    logs += ["plain text", "", '{"a": 1} trailing', '{"n": NaN}']
    docs = encode("json", *logs)
    assert [doc.get("json") for doc in docs[:-1]] == [None] * len(logs)
    assert [doc["log"] for doc in docs[:-1]] == logs
    assert docs[-1]["failures"] == len(logs)


def test_leading_spaces_and_an_empty_object_still_parse() -> None:
    [spaced, empty, counted] = encode("json", '  {"a": {"b": [true, null]}} ', "{}")
    assert spaced["json"] == {"a": {"b": [True, None]}}
    assert empty["json"] == {}
    assert counted["failures"] == 0


def test_duplicate_keys_keep_the_last_value_in_a_valid_document() -> None:
    [doc, _] = encode("json", '{"a": 1, "a": 2, "b": {"c": 1, "c": 3}}')
    assert doc["json"] == {"a": 2, "b": {"c": 3}}


def test_an_empty_key_merges_at_the_top_level_and_ours_win() -> None:
    text = json.dumps(
        {
            "@timestamp": "1999-01-01T00:00:00Z",
            "stream": "payments",
            "log": "their log",
            "log_truncated": "no",
            "docker": {"container_id": "theirs"},
            "kubernetes": {"pod_name": "spoofed"},
            "level": "warn",
            "user": {"id": 7},
        }
    )
    [doc, counted] = encode("", text)
    assert doc == {
        "@timestamp": "2024-05-01T12:00:00.5Z",
        "stream": "stdout",
        "log": text,
        "level": "warn",
        "user": {"id": 7},
        **FIELDS,
    }
    assert counted["failures"] == 0
    [only_ours, _] = encode("", '{"stream": "x", "log": "y"}')
    assert only_ours == {
        "@timestamp": "2024-05-01T12:00:00.5Z",
        "stream": "stdout",
        "log": '{"stream": "x", "log": "y"}',
        **FIELDS,
    }


def test_dotted_keys_that_would_expand_into_our_fields_are_left_out_and_counted() -> None:
    spoof = {
        "kubernetes.namespace_name": "kube-system",
        "docker.container_id": "theirs",
        "@timestamp.date": "1999",
        "log.level": "error",
        "stream.name": "x",
        "log_truncated.x": 1,
        "kubernetes": {"pod_name": "spoofed"},
        "kubernetesx": 1,
        "app.kubernetes": 2,
        "level": "warn",
    }
    [doc, counted] = encode("", json.dumps(spoof))
    assert {k: v for k, v in doc.items() if k not in ("log",)} == {
        "@timestamp": "2024-05-01T12:00:00.5Z",
        "stream": "stdout",
        "kubernetesx": 1,
        "app.kubernetes": 2,
        "level": "warn",
        **FIELDS,
    }
    assert counted["dropped"] == 7 and counted["failures"] == 0
    [under_key, counted] = encode("json", json.dumps(spoof))
    assert under_key["json"] == spoof  # under a key of ours they expand under it: harmless
    assert counted["dropped"] == 0


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def test_deep_objects_stay_text_well_below_what_orjson_can_encode() -> None:
    deep = [_nested(MAX_JSON_DEPTH + 1), _nested(255), "[" * 1000 + "]" * 1000]
    deep.append('{"a":' + "[" * 500 + "]" * 500 + "}")
    docs = encode("", _nested(MAX_JSON_DEPTH), *deep)
    assert docs[0]["a"]["a"]["a"]
    assert [set(doc) for doc in docs[1:-1]] == [{"@timestamp", "stream", "log", *FIELDS}] * 4
    assert docs[-1]["failures"] == 4
    brackets_in_text = json.dumps({"msg": "{[" * 100})  # many brackets, but in a string
    assert encode("json", brackets_in_text)[0]["json"] == {"msg": "{[" * 100}


def test_integers_beyond_64_bits_stay_text_and_64_bit_ones_stay_exact() -> None:
    edges = '{"u": 18446744073709551615, "i": -9223372036854775808, "s": "18446744073709551616"}'
    [exact, big, small, counted] = encode(
        "json", edges, '{"n": 18446744073709551616}', '{"n": [-9223372036854775809]}'
    )
    assert exact["json"] == {"u": 2**64 - 1, "i": -(2**63), "s": "18446744073709551616"}
    assert "json" not in big and big["log"] == '{"n": 18446744073709551616}'
    assert "json" not in small
    assert counted["failures"] == 2


def test_a_message_over_the_size_cap_stays_text() -> None:
    small = json.dumps({"msg": "x" * 1000})
    big = json.dumps({"msg": "x" * MAX_JSON_CHARS})
    [kept, text, counted] = encode("json", small, big)
    assert kept["json"] == {"msg": "x" * 1000}
    assert "json" not in text and text["log"] == big
    assert counted["failures"] == 1


def test_a_truncated_record_is_plain_text() -> None:
    [doc, counted] = encode("", '{"msg": "long', truncated=True)
    assert doc["log_truncated"] is True and "msg" not in doc
    assert counted["failures"] == 1


def test_without_parsing_documents_are_as_before_and_nothing_is_counted() -> None:
    [doc, plain, counted] = encode(None, NESTED, "plain text")
    assert set(doc) == {"@timestamp", "stream", "log", "docker", "kubernetes"}
    assert plain["log"] == "plain text"
    assert counted["failures"] == 0


def test_a_key_naming_one_of_our_fields_is_refused() -> None:
    for key in ("log", "kubernetes", "@timestamp", "kubernetes.labels", "docker.x"):
        with pytest.raises(ValueError, match="SHIPPER_MERGE_JSON_KEY"):
            JsonFields(key, Metrics())


def test_a_file_parses_from_the_moment_its_pod_asks() -> None:
    f = File(Settings())
    first = cri('{"n": 1}')
    f.feed(first)
    f.consumer.apply(pod(parser="json"))
    f.feed(cri('{"n": 2}'), len(first))
    assert [doc.get("json") for doc in f.docs()] == [None, {"n": 2}]
