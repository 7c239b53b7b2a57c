"""Parsers of one value: each returns it or raises ValueError saying what is accepted.

The loader prefixes the variable's name and value, so a message here is the part after
`NAME='value': ` that the user reads.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from shipper.settings import Output
from shipper.sinks.elasticsearch.aws_credentials import EXTRA_HINT
from shipper.sinks.elasticsearch.aws_credentials import available as aws_available
from shipper.transforms.encoding.our_fields import names_our_field
from shipper.units import parse_duration, parse_size

N = TypeVar("N", bound=float)

KIB = 1024
ON_OFF_ALIASES = {"true": "on", "yes": "on", "1": "on", "false": "off", "no": "off", "0": "off"}
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def boolean(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ValueError("not a boolean (accepted: true, false, yes, no, on, off, 1, 0)")


def choice(*options: str, aliases: Mapping[str, str] | None = None) -> Callable[[str], Any]:
    """A parser accepting one of `options` (case-insensitive), or an alias of one."""
    accepted = {option: option for option in options} | dict(aliases or {})

    def parse(text: str) -> str:
        word = text.strip().lower()
        if word not in accepted:
            raise ValueError(f"not one of: {', '.join(options)}")
        return accepted[word]

    return parse


def whole_number(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError("not a whole number (example: 10)") from None


def at_least(parse: Callable[[str], N], minimum: N, shown: str) -> Callable[[str], N]:
    """`parse`, then refuse values below `minimum` (`shown` as the user would write it)."""

    def parse_bounded(text: str) -> N:
        value = parse(text)
        if value < minimum:
            raise ValueError(f"must be at least {shown}")
        return value

    return parse_bounded


def size_at_least(shown: str) -> Callable[[str], int]:
    """A size (`5MiB`, `2M`) of at least `shown`, itself written as a size."""
    return at_least(parse_size, parse_size(shown), shown)


def duration_at_least(shown: str) -> Callable[[str], float]:
    """A duration (`500ms`, `5s`) of at least `shown`, itself written as a duration."""
    return at_least(parse_duration, parse_duration(shown), shown)


def text(value: str) -> str:
    """Any text, as given."""
    return value


def globs(text: str) -> tuple[str, ...]:
    found = tuple(part.strip() for part in text.split(",") if part.strip())
    if not found:
        raise ValueError(
            "no path given (example: /var/log/containers/*.log,/var/log/pods/*/*/*.log)"
        )
    return found


def optional_globs(text: str) -> tuple[str, ...]:
    """Comma-separated globs, where an empty value turns the source off."""
    return globs(text) if text.strip() else ()


def directories(text: str) -> tuple[str, ...]:
    """Comma-separated absolute directories."""
    paths = tuple(part.strip() for part in text.split(",") if part.strip())
    if not paths or any(not path.startswith("/") for path in paths):
        raise ValueError("not a list of absolute directories (example: /var/log/journal)")
    return paths


def glob_list(text: str) -> tuple[str, ...]:
    """Comma-separated, or a JSON array as the fluentd image's exclude_path takes it."""
    if not text.lstrip().startswith("["):
        return globs(text)
    try:
        items = json.loads(text)
    except json.JSONDecodeError:
        items = None
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ValueError('not a JSON array of strings (example: ["/var/log/containers/a-*.log"])')
    return tuple(items)


def output(text: str) -> Output:
    word = text.strip()
    if word.startswith("file:") and word.removeprefix("file:"):
        return Output("file", word.removeprefix("file:"))
    if word.lower() in ("elasticsearch", "stdout"):
        return Output(word.lower())  # type: ignore[arg-type]  # checked just above
    if word.lower() == "opensearch":
        return Output("elasticsearch", distribution="opensearch")
    raise ValueError(
        "not one of: elasticsearch, stdout, file:PATH, opensearch (example: file:/tmp/out.ndjson)"
    )


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_FIELD_PATH = re.compile(r"[^.\s{}]+(?:\.[^.\s{}]+)*")
_INDEX_FORBIDDEN = frozenset('\\/*?"<>|,#: ')


def index_pattern(text: str) -> str:
    """An index name with strftime directives and `{a.b.c}` document-field placeholders.

    Upper case is accepted: the name is lower-cased when rendered, as fluentd does.
    """
    for match in _PLACEHOLDER.finditer(text):
        if not _FIELD_PATH.fullmatch(match[1]):
            raise ValueError(
                f"bad placeholder {match[0]} (example: logs-{{kubernetes.namespace_name}}-%Y.%m.%d)"
            )
    literal = re.sub(r"%-?.", "", _PLACEHOLDER.sub("", text))
    if "{" in literal or "}" in literal:
        raise ValueError("unbalanced { or } (example: logs-{kubernetes.namespace_name}-%Y.%m.%d)")
    forbidden = sorted(_INDEX_FORBIDDEN.intersection(literal))
    if forbidden:
        raise ValueError(f"Elasticsearch index names cannot contain {''.join(forbidden)!r}")
    return text


def policy_name(text: str) -> str:
    """An ILM or ISM policy name: what an index name may hold."""
    name = text.strip()
    if not name or any(char in _INDEX_FORBIDDEN for char in name):
        raise ValueError("not a policy name (example: logs-30d)")
    return name


def aws_region(text: str) -> str:
    """An AWS region (`eu-west-1`), accepted only with the `aws` extra installed."""
    region = text.strip().lower()
    if not re.fullmatch(r"[a-z]{2}(-[a-z0-9]+)+-\d+", region):
        raise ValueError("not an AWS region (examples: us-east-1, eu-central-1)")
    if not aws_available():
        raise ValueError(EXTRA_HINT)
    return region


def trimmed(text: str) -> str:
    """A user name or password: spaces and line breaks around it (a Secret made
    `--from-file` ends in one) are not part of it."""
    return text.strip()


def api_key(text: str) -> str:
    """An API key as Elasticsearch hands it out (base64): one word of printable ASCII."""
    key = text.strip()
    if any(char.isspace() or not char.isprintable() or not char.isascii() for char in key):
        raise ValueError(
            "has a space, line break or non-ASCII character inside: it must be the "
            "one-word key Elasticsearch gave (its `encoded` value)"
        )
    return key


def existing_file(text: str) -> str:
    if not os.path.isfile(text):
        raise ValueError("no such file")
    if not os.access(text, os.R_OK):
        raise ValueError("file not readable")
    return text


def json_key(text: str) -> str:
    if names_our_field(text):
        raise ValueError(
            f"the key would replace shipper's own {text!r} field "
            "(examples: json, app; empty merges the fields at the top level)"
        )
    return text


def separator(text: str) -> str:
    if "." in text:
        raise ValueError("the separator replaces dots, so it cannot contain one (example: _)")
    return text
