"""What is done to each record's content: JSON fields, stack traces, label keys."""

from __future__ import annotations

from shipper.config.derived import records as derived
from shipper.config.parsers import boolean, json_key, separator
from shipper.config.table.variable import Variable

RECORDS = (
    Variable(
        "SHIPPER_MERGE_JSON",
        "merge_json",
        "parse JSON messages into fields (see Structured logs)",
        boolean,
        default="false",
    ),
    Variable(
        "SHIPPER_MERGE_JSON_KEY",
        "merge_json_key",
        "the key the fields go under, empty: the top level. It may not name one of our own "
        "fields, nor a dotted path into one (`kubernetes.app`)",
        json_key,
        default="json",
        empty_counts=True,
    ),
    Variable(
        "SHIPPER_MULTILINE",
        "multiline",
        "`java`, `python`, `go` or the name of a `SHIPPER_MULTILINE_RULES` rule: join stack "
        "traces for every pod",
        resolve=derived.multiline,
    ),
    Variable(
        "SHIPPER_MULTILINE_RULES",
        "multiline_rules",
        "custom multiline rules, a JSON or YAML list of `{name, start, continue, timeout}` "
        "(see Stack traces)",
        resolve=derived.multiline_rules,
    ),
    Variable(
        "SHIPPER_DE_DOT",
        "de_dot",
        "replace `.` in label and annotation keys, so `app` and `app.kubernetes.io/name` "
        "cannot collide in the mapping",
        boolean,
        default="true",
    ),
    Variable(
        "SHIPPER_DE_DOT_SEPARATOR",
        "de_dot_separator",
        "what replaces the `.`",
        separator,
        default="_",
    ),
)
