"""Fuzzing: whatever bytes a container writes, the decoders, the JSON merge and the
document encoder raise nothing and write valid NDJSON with our fields intact.

`SHIPPER_FUZZ_EXAMPLES` sets the number of cases (CI runs the default; scripts/fuzz.sh
runs many more).
"""

from __future__ import annotations

import json
import os
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shipper.observe.metrics import Metrics
from shipper.record import AckTracker, Records
from shipper.timestamps import is_timestamp
from shipper.transforms.decoding.detect import DetectingDecoder
from shipper.transforms.encoding.document import DocumentEncoder
from shipper.transforms.encoding.json_fields import JsonFields
from shipper.transforms.encoding.our_fields import OUR_FIELDS, names_our_field
from shipper.transforms.enrichment.enrich import capped

EXAMPLES = int(os.environ.get("SHIPPER_FUZZ_EXAMPLES", "300"))
MAX_RECORD_BYTES = 8192  # room for deep JSON; small enough for overlong lines to come up
LINE_SLACK = 256
STREAMS = ["stdout", "stdout", "stderr", "stdin", "", "STDOUT", "stdout\x00"]
TAGS = ["F", "F", "F", "P", "P", "P:x", "F:y", "X", "", "p"]

VALID_TIMES = [
    "2024-05-01T12:00:00.123456789Z",
    "2024-02-29T23:59:59Z",
    "2024-05-01T14:00:00+02:00",
]


@st.composite
def odd_time(draw: st.DrawFn) -> str:
    """A valid time most often, else one of RFC 3339 shape with any digits and odd ends."""
    if draw(st.integers(0, 2)):
        return draw(st.sampled_from(VALID_TIMES))
    fields = [draw(st.integers(0, 99)) for _ in range(5)]
    year = draw(st.sampled_from([0, 1, 1970, 2023, 2024, 9999, 10000]))
    month, day, hour, minute, second = fields
    ts = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    ts += draw(st.sampled_from(["", ".5", ".123456789", ".1234567890", "."]))
    ts += draw(
        st.sampled_from(["Z", "Z", "+00:00", "+99:99", "-23:59", "+24:00", "z", "", "+0530"])
    )
    return ts


@st.composite
def deep_json(draw: st.DrawFn) -> str:
    depth = draw(st.sampled_from([1, 63, 64, 65, 200, 254, 255, 256, 1024, 1100]))
    opener = draw(st.sampled_from(['{"a":', "[", '{"k":[']))
    closer = {'{"a":': "}", "[": "]", '{"k":[': "]}"}[opener]
    return opener * depth + draw(st.sampled_from(["1", '"x"', "{}", "[]"])) + closer * depth


big_number = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["1e400", "-1e400", "1e-400", "18446744073709551616", "-9223372036854775809"]),
    st.sampled_from(["18446744073709551615", "-9223372036854775808", "NaN", "Infinity", "0.1e1"]),
)

our_key = st.sampled_from(
    [*OUR_FIELDS, "kubernetes.namespace_name", "docker.container_id", "@timestamp.x", "log.level"]
)


@st.composite
def json_message(draw: st.DrawFn) -> str:
    """Something a JSON-logging application might write, or a hostile one."""
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(deep_json())
    if kind == 1:
        return '{"n": ' + draw(big_number) + ', "m": [' + draw(big_number) + "]}"
    if kind == 2:
        keys = draw(st.lists(st.one_of(our_key, st.text(max_size=8)), max_size=6))
        return json.dumps({k: draw(st.one_of(st.text(max_size=5), st.integers())) for k in keys})
    if kind == 3:
        return json.dumps(
            draw(
                st.dictionaries(
                    st.text(max_size=5),
                    st.recursive(
                        st.none()
                        | st.booleans()
                        | st.floats(allow_nan=False)
                        | st.text(max_size=5),
                        lambda inner: (
                            st.lists(inner, max_size=3)
                            | st.dictionaries(st.text(max_size=3), inner, max_size=3)
                        ),
                        max_leaves=10,
                    ),
                    max_size=4,
                )
            )
        )
    return draw(st.sampled_from(['{"a": "\\ud800"}', '{"a": 1', "{", '{"a":1}{"b":2}', " {}"]))


raw_bytes = st.binary(max_size=60)
content = st.one_of(
    raw_bytes,
    json_message().map(str.encode),
    st.text(max_size=30).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"\x00" * 5, b"\xff\xfe", b"\xc3", b"\r", b"\\u00e9" * 1500]),
    st.sampled_from([b"x" * 8200, b"x" * 8500, b"\xe2\x82" * 4300, b'"\\' * 3000]),
)


@st.composite
def cri_line(draw: st.DrawFn) -> bytes:
    stream = draw(st.sampled_from(STREAMS))
    tag = draw(st.sampled_from(TAGS))
    return f"{draw(odd_time())} {stream} {tag} ".encode() + draw(content)


@st.composite
def docker_line(draw: st.DrawFn) -> bytes:
    log = draw(content).decode("utf-8", "replace") + draw(st.sampled_from(["\n", "", "\r\n"]))
    entry: dict[str, Any] = {"log": log, "stream": draw(st.sampled_from(STREAMS))}
    entry["time"] = draw(odd_time())
    line = orjson.dumps(entry)
    cut = draw(st.sampled_from([None, None, None, len(line) // 2, len(line) - 3]))
    return line if cut is None else line[:cut]


garbage = st.one_of(raw_bytes, deep_json().map(str.encode))
file_bytes = st.one_of(
    st.lists(st.one_of(cri_line(), cri_line(), cri_line(), garbage, docker_line()), max_size=25),
    st.lists(
        st.one_of(docker_line(), docker_line(), docker_line(), garbage, cri_line()), max_size=25
    ),
).map(lambda lines: b"\n".join(lines))


def decode_all(data: bytes, cuts: list[int], metrics: Metrics) -> Records:
    decoder = DetectingDecoder(MAX_RECORD_BYTES, metrics, line_slack=LINE_SLACK)
    out = Records()
    at = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        if at <= cut <= len(data):
            out.extend(decoder.feed(data[at:cut], at))
            at = cut
    out.extend(decoder.finish())
    return out


def strict(doc: bytes) -> dict[str, Any]:
    """A document parsed by both parsers, refusing duplicate keys as Elasticsearch does."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        assert len(keys) == len(set(keys)), doc
        return dict(items)

    parsed: dict[str, Any] = json.loads(doc, object_pairs_hook=pairs)
    assert orjson.loads(doc) == parsed
    return parsed


FIELDS = capped(
    {"pod_id": "u", "labels": {f"l{i}": "v" * 50 for i in range(40)}, "annotations": {"a": "b"}},
    1024,
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(file_bytes, st.lists(st.integers(0, 3000), max_size=6), st.sampled_from([None, "", "json"]))
def test_any_bytes_become_valid_documents_with_our_fields_intact(
    data: bytes, cuts: list[int], key: str | None
) -> None:
    metrics = Metrics()
    records = decode_all(data, cuts, metrics)
    fields = {"docker": {"container_id": "ab" * 32}, "kubernetes": {"pod_name": "p", **FIELDS}}
    encoder = DocumentEncoder("k", "ab" * 32, fields)
    if key is not None:
        encoder.json = JsonFields(key, metrics)
    ticket = AckTracker(0, lambda o: None, lambda n: None).issue(len(records), 0, 0)
    documents = encoder.encode(records, ticket)
    body = b"".join(documents.docs)
    assert body.count(b"\n") == len(documents.docs) == len(records)
    for doc, record in zip(documents.docs, records, strict=True):
        assert doc.endswith(b"\n")
        parsed = strict(doc)
        assert is_timestamp(parsed["@timestamp"].encode()) and parsed["@timestamp"][-1] == "Z"
        assert parsed["stream"] == record.stream in ("stdout", "stderr", "unknown")
        assert parsed["log"] == record.log
        assert len(record.log) <= MAX_RECORD_BYTES  # bytes before invalid UTF-8 is replaced
        assert parsed.get("log_truncated", False) is record.truncated
        assert parsed["docker"] == fields["docker"] and parsed["kubernetes"] == fields["kubernetes"]
        theirs = set(parsed) - OUR_FIELDS - {key}
        assert not any(names_our_field(k) for k in theirs)
