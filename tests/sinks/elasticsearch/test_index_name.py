import pytest

from shipper.record import AckTracker, Documents
from shipper.sinks.elasticsearch.index_name import MISSING, IndexPattern, compile_index_pattern

TS = "2024-05-01T23:59:58.123456789Z"
FIELDS = {"kubernetes": {"namespace_name": "Kube-System", "labels": {"app": "web"}}}


def test_default_pattern_uses_the_records_utc_day() -> None:
    pattern = IndexPattern("logstash-%Y.%m.%d")
    assert pattern.render(TS, {}) == "logstash-2024.05.01"
    assert pattern.render("2024-12-31T00:00:00Z", {}) == "logstash-2024.12.31"


def test_hours_and_day_of_year() -> None:
    assert IndexPattern("a-%Y-%j-%H").render(TS, {}) == "a-2024-122-23"
    assert IndexPattern("a-%H%M").render("2024-05-01T07:05:00Z", {}) == "a-0705"


def test_placeholders_read_nested_fields_and_lowercase() -> None:
    pattern = IndexPattern("Logs-{kubernetes.namespace_name}-{kubernetes.labels.app}-%Y.%m")
    assert pattern.render(TS, FIELDS) == "logs-kube-system-web-2024.05"


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"kubernetes": {}},
        {"kubernetes": {"namespace_name": None}},
        {"kubernetes": "x"},
        {"kubernetes": {"namespace_name": ""}},
        {"kubernetes": {"namespace_name": {"a": 1}}},
    ],
)
def test_missing_placeholder_field_renders_unknown(fields: dict) -> None:
    pattern = IndexPattern("logs-{kubernetes.namespace_name}-%Y")
    assert pattern.render(TS, fields) == f"logs-{MISSING}-2024"


def test_forbidden_characters_in_values_are_replaced() -> None:
    pattern = IndexPattern("logs-{app}")
    assert pattern.render(TS, {"app": 'A b/c*d?"e<f>g|h,i#j:k'}) == "logs-a_b_c_d__e_f_g_h_i_j_k"


def test_non_string_values_are_rendered() -> None:
    assert IndexPattern("logs-{n}").render(TS, {"n": 42}) == "logs-42"


def test_literal_percent_and_fixed_names() -> None:
    assert IndexPattern("a%%b-%Y").render(TS, {}) == "a%b-2024"
    assert IndexPattern("Fixed-Name").render(TS, {}) == "fixed-name"


def test_renders_follow_changing_fields_and_days() -> None:
    pattern = IndexPattern("logs-{ns}-%d")
    fields = {"ns": "a"}
    assert pattern.render(TS, fields) == "logs-a-01"
    fields["ns"] = "b"  # a mapping changed in place is looked up again
    assert pattern.render(TS, fields) == "logs-b-01"
    assert pattern.render("2024-05-02T00:00:00Z", fields) == "logs-b-02"


def test_an_unparsable_timestamp_falls_back_to_now() -> None:
    name = IndexPattern("logstash-%Y").render("garbage", {})
    assert name.startswith("logstash-20") and len(name) == len("logstash-2024")


@pytest.mark.parametrize(
    ("pattern", "wildcard"),
    [
        ("logstash-%Y.%m.%d", "logstash-*"),
        ("logs-{kubernetes.namespace_name}-%Y.%m.%d", "logs-*"),
        ("App-%Y-suffix", "app-*-suffix"),
        ("fixed", "fixed"),
        ("100%%-%Y", "100%-*"),
    ],
)
def test_wildcard_replaces_the_dynamic_part(pattern: str, wildcard: str) -> None:
    assert IndexPattern(pattern).wildcard == wildcard


def test_compiled_patterns_are_cached() -> None:
    assert compile_index_pattern("x-%Y") is compile_index_pattern("x-%Y")


def _block(*times: str, fields: dict | None = None) -> Documents:
    ticket = AckTracker(0, lambda _: None, lambda _: None).issue(len(times), 0, 0)
    docs = [b"{}\n"] * len(times)
    stamps = [time.encode() for time in times]
    return Documents(docs, stamps, list(range(len(times))), "p-", fields or {}, ticket)


def test_render_all_names_a_block_of_one_day_with_one_name() -> None:
    pattern = IndexPattern("logs-{kubernetes.namespace_name}-%Y.%m.%d")
    names = pattern.render_all(_block(TS, "2024-05-01T00:00:00Z", TS, fields=FIELDS))
    assert names == ["logs-kube-system-2024.05.01"] * 3
    assert pattern.render_all(_block()) == []


def test_render_all_follows_a_block_over_midnight() -> None:
    pattern = IndexPattern("logstash-%Y.%m.%d")
    block = _block(TS, "2024-05-02T00:00:00Z", TS, "garbage")
    names = pattern.render_all(block)
    assert names[:3] == ["logstash-2024.05.01", "logstash-2024.05.02", "logstash-2024.05.01"]
    assert names[3].startswith("logstash-20")


def test_bytes_and_text_timestamps_share_the_cache() -> None:
    pattern = IndexPattern("logs-%Y.%m.%d")
    assert pattern.render(TS.encode(), {}) == pattern.render(TS, {}) == "logs-2024.05.01"
    assert len(pattern._names) == 1
