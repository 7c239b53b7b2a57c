"""`SHIPPER_MULTILINE`, which may name a rule of `SHIPPER_MULTILINE_RULES`."""

from __future__ import annotations

from collections.abc import Callable

from shipper.config.parsers import choice
from shipper.config.reader import Reader
from shipper.settings import RecordSettings
from shipper.transforms.multiline.custom import CustomRule, parse_multiline_rules

_DEFAULTS = RecordSettings()
BUILT_IN = ("java", "python", "go")


def multiline(r: Reader) -> str | None:
    """A built-in kind (any case) or the name of a custom rule."""
    parse = _multiline(multiline_rules(r))
    chosen: str | None = r.get("SHIPPER_MULTILINE", parse=parse, default=_DEFAULTS.multiline)
    return chosen


def multiline_rules(r: Reader) -> tuple[CustomRule, ...]:
    return r.once("multiline_rules", _rules)


def _rules(r: Reader) -> tuple[CustomRule, ...]:
    return r.get(
        "SHIPPER_MULTILINE_RULES", parse=parse_multiline_rules, default=_DEFAULTS.multiline_rules
    )


def _multiline(custom: tuple[CustomRule, ...]) -> Callable[[str], str]:
    builtin = choice(*BUILT_IN)
    names = [rule.name for rule in custom]

    def parse(text: str) -> str:
        if text.strip() in names:
            return text.strip()
        try:
            return str(builtin(text))
        except ValueError:
            raise ValueError(f"not one of: {', '.join([*BUILT_IN, *names])}") from None

    return parse
