"""Custom multiline rules (SHIPPER_MULTILINE_RULES, annotations) and the built-in Go rules
for net/http's recovered panics, through the same TraceJoiner and a real FilePipeline."""

from __future__ import annotations

import json

import pytest

from shipper.config import ConfigError, load_settings
from shipper.record import Record
from shipper.settings import RecordSettings
from shipper.transforms.enrichment.options import file_options
from shipper.transforms.multiline.custom import parse_multiline_rules
from shipper.transforms.multiline.joiner import TraceJoiner, rules_for
from tests.transforms.conftest import FakeClock
from tests.transforms.filtering.test_filters import meta
from tests.transforms.multiline.test_joiner import File, cri_file, run

BRACKETS = "[{name: brackets, start: '\\[\\d', continue: '\\s', timeout: 3s}]"
RECORD = ["[2024-05-01 12:00:01] job failed:", "  step 1", "  step 2"]

HTTP_PANIC = [
    "2024/05/01 12:00:01 http: panic serving 10.0.0.7:51234: runtime error: index out of range",
    "goroutine 35 [running]:",
    "net/http.(*conn).serve.func1()",
    "\t/usr/local/go/src/net/http/server.go:1898 +0xbe",
    "panic({0x6a1b20?, 0x8f4a10?})",
    "\t/usr/local/go/src/runtime/panic.go:770 +0x132",
    "main.handler({0x7c2e10, 0xc0001a6000}, 0xc0001b4000)",
    "\t/src/main.go:14 +0x1d",
    "created by net/http.(*Server).Serve in goroutine 1",
    "\t/usr/local/go/src/net/http/server.go:3285 +0x4b4",
]


def test_a_named_rule_joins_and_is_chosen_by_setting_or_annotation() -> None:
    rules = parse_multiline_rules(BRACKETS)
    lines = ["plain", *RECORD, "[2024-05-01 12:00:02] next"]
    f = run(cri_file(lines), "brackets", multiline_rules=rules)
    assert f.logs() == ["plain", "\n".join(RECORD), lines[-1]]
    f = File(RecordSettings(multiline_rules=rules))
    f.consumer.apply(meta({"shipper.io/multiline-app": "brackets"}))
    f.feed(cri_file(lines))
    f.consumer.finish()
    assert f.logs() == ["plain", "\n".join(RECORD), lines[-1]]


def test_a_rule_given_whole_in_an_annotation() -> None:
    rule = json.dumps({"start": r"\[\d", "continue": r"\s"})
    f = File(RecordSettings(multiline="java"))
    f.consumer.apply(meta({"shipper.io/multiline": rule}))
    f.feed(cri_file([*RECORD, "after"]))
    assert f.logs() == ["\n".join(RECORD), "after"]


def test_an_unusable_annotation_falls_back_to_the_setting(caplog: pytest.LogCaptureFixture) -> None:
    assert (
        file_options(
            RecordSettings(multiline="go"), meta({"shipper.io/multiline": "{bad"})
        ).multiline
        == "go"
    )
    bad = json.dumps({"start": "(", "continue": "x"})
    assert file_options(RecordSettings(), meta({"shipper.io/multiline": bad})).multiline is None
    assert "bad regular expression" in caplog.text
    assert (
        file_options(
            RecordSettings(multiline="go"), meta({"shipper.io/multiline": "none"})
        ).multiline
        is None
    )


def test_the_rule_timeout_flushes_the_open_record() -> None:
    clock = FakeClock()
    rules = rules_for("brackets", parse_multiline_rules(BRACKETS))
    joiner = TraceJoiner(rules, 1 << 20, clock=clock)
    records = [Record("t", "stdout", text, i * 10) for i, text in enumerate(RECORD)]
    assert joiner.join(records, 0, lambda: True) == []
    assert joiner.flush_idle(2.9) == []  # its own 3 s, not the default 1 s
    [joined] = joiner.flush_idle(3.0)
    assert joined.log == "\n".join(RECORD)


def test_reading_resumes_at_an_open_custom_record() -> None:
    f = File(RecordSettings(multiline="brackets", multiline_rules=parse_multiline_rules(BRACKETS)))
    head = cri_file(["ready"])
    f.feed(head + cri_file(RECORD[:2]))
    assert (f.logs(), f.committed) == (["ready"], len(head))


def test_go_http_panic_traces_are_one_record() -> None:
    lines = ["2024/05/01 12:00:00 listening on :8080", *HTTP_PANIC, "2024/05/01 12:00:02 ok"]
    assert run(cri_file(lines), "go").logs() == [lines[0], "\n".join(HTTP_PANIC), lines[-1]]
    bare = [HTTP_PANIC[0].split(" ", 2)[2], *HTTP_PANIC[1:]]
    assert run(cri_file(bare), "go").logs() == ["\n".join(bare)]


def test_multiline_rules_from_the_environment() -> None:
    env = {"SHIPPER_MULTILINE_RULES": BRACKETS, "SHIPPER_MULTILINE": "brackets"}
    settings = load_settings(env)
    assert settings.records.multiline == "brackets"
    assert settings.records.multiline_rules[0].timeout == 3.0
    with pytest.raises(ConfigError) as caught:
        load_settings({"SHIPPER_MULTILINE": "brackets"})
    assert caught.value.errors == ["SHIPPER_MULTILINE='brackets': not one of: java, python, go"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[{start: a, continue: b}]", "rule 1 needs a name"),
        ("[{name: java, start: a, continue: b}]", "rule 1 needs a name"),
        ("[{name: x, start: '(', continue: b}]", "bad regular expression"),
        ("[{name: x, start: a}]", "rule 1 needs continue"),
        ("[{name: x, start: a, continue: b, timeout: soon}]", "not a duration"),
        ("[{name: x, start: a, continue: b, flush: 1s}]", "unknown keys ['flush']"),
    ],
)
def test_bad_rules_fail_at_startup_naming_the_variable(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"SHIPPER_MULTILINE_RULES": text})
    assert caught.value.errors[0].startswith("SHIPPER_MULTILINE_RULES=")
    assert message in caught.value.errors[0]
