"""Lists of rules in one variable, written as JSON or, more readably, as YAML."""

from __future__ import annotations

import json
from typing import Any


def parse_list(text: str) -> list[Any]:
    """A JSON or YAML list (YAML when it is not JSON); ValueError when it is neither."""
    try:
        value = json.loads(text)
    except ValueError:
        import yaml  # only for a list written as YAML: 18 modules, ~0.6 MiB the agent rarely needs

        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"neither JSON nor YAML ({exc})") from None
    if not isinstance(value, list):
        raise ValueError("must be a list (JSON or YAML)")
    return value
