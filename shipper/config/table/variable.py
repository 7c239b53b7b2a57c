"""One row of the configuration table: a setting, the variables that set it, its doc."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shipper.config.reader import Reader


@dataclass(frozen=True, slots=True)
class Variable:
    """A `Settings` field and how the environment sets it.

    `name` is what check-config shows (a variable, or a flag for flag-only settings);
    `compat` are the fluentd-elasticsearch image's names, read when `name` is unset;
    `flag` is the `run` flag that beats them all. `default` is the default as a user
    writes it (`5MiB`), empty when there is none; tests check it against `Settings`.
    `resolve` replaces the plain lookup for settings derived from several variables.
    """

    name: str
    field: str
    doc: str
    parse: Callable[[str], Any] | None = None
    default: str = ""
    compat: tuple[str, ...] = ()
    flag: str | None = None
    secret: bool = False
    empty_counts: bool = False  # an empty value is a value, not "unset"
    resolve: Callable[[Reader], Any] | None = None

    @property
    def is_variable(self) -> bool:
        """False for what check-config shows beside the variables (`--once`, resolved)."""
        return not self.name.startswith("--") and " " not in self.name

    @property
    def names(self) -> tuple[str, ...]:
        """Every environment variable this setting reads."""
        return ((self.name,) if self.is_variable else ()) + self.compat
