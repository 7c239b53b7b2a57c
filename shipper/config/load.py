"""The environment and the `run` flags -> one validated `Settings`, by the table.

Precedence: flag, then `SHIPPER_*`, then the fluentd-elasticsearch image's name, then the
default. Every bad value becomes one line naming the variable, its value and what is
accepted, and all of them are reported at once, so a manifest is fixed in one round.
An empty variable counts as unset (except where the table says it counts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shipper.config.checks import check_pairs
from shipper.config.reader import Reader
from shipper.config.table import TABLE, Variable
from shipper.redact import MASK, redact
from shipper.settings import Settings

_DEFAULTS = Settings()
SECRET_NAMES = frozenset(name for v in TABLE if v.secret for name in v.names)


@dataclass(frozen=True, slots=True)
class RunFlags:
    """The `run` command-line flags; unset or empty ones leave the decision to the environment."""

    paths: tuple[str, ...] = ()
    exclude_paths: tuple[str, ...] = ()
    state_dir: str | None = None
    output: str | None = None
    es_hosts: tuple[str, ...] = ()
    once: bool = False

    def by_name(self) -> dict[str, object]:
        """The flags under the names the command line gives them."""
        return {
            "--path": self.paths,
            "--exclude": self.exclude_paths,
            "--state-dir": self.state_dir,
            "--output": self.output,
            "--es": self.es_hosts,
            "--once": self.once,
        }


@dataclass(frozen=True, slots=True)
class Explained:
    """One line of check-config: the variable, its effective value, and where it came from."""

    variable: str
    value: object
    source: str


class ConfigError(Exception):
    """Bad configuration: `errors` has one actionable line per bad variable or flag."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def load_settings(
    env: Mapping[str, str], flags: RunFlags | None = None, *, terminal: bool = False
) -> Settings:
    """Build the Settings from `env` (normally `os.environ`) and flags, or raise ConfigError.

    `terminal`: stderr is a terminal, so the agent's own log defaults to short text lines.
    """
    return _load(env, flags or RunFlags(), terminal)[0]


def explain(
    env: Mapping[str, str], flags: RunFlags | None = None, *, terminal: bool = False
) -> list[Explained]:
    """Every setting as check-config shows it: variable name, value (secrets masked), source."""
    settings, reader = _load(env, flags or RunFlags(), terminal)
    lines = []
    for variable in TABLE:
        value = getattr(settings, variable.field)
        if variable.secret and value is not None:
            value = MASK
        lines.append(Explained(variable.name, value, reader.source_of(variable.name)))
    return lines


def known_variables() -> set[str]:
    """Every environment variable shipper reads, compat names included."""
    return {name for variable in TABLE for name in variable.names}


def _load(env: Mapping[str, str], flags: RunFlags, terminal: bool) -> tuple[Settings, Reader]:
    reader = Reader(env, flags.by_name(), SECRET_NAMES, terminal=terminal)
    values = {variable.field: _resolve(reader, variable) for variable in TABLE}
    check_pairs(reader)
    if reader.errors:
        raise ConfigError([redact(error, reader.secrets) for error in reader.errors])
    return Settings(**values), reader


def _resolve(r: Reader, variable: Variable) -> Any:
    """One setting: its own `resolve`, else flag, then the variable, then compat names."""
    if variable.resolve is not None:
        return variable.resolve(r)
    assert variable.parse is not None, variable.name  # the table's test checks every row
    default = getattr(_DEFAULTS, variable.field)
    given = r.flag(variable.flag) if variable.flag else None
    if given and not isinstance(given, str):  # a repeatable flag: its values as given
        r.came_from(variable.name, variable.flag)
        return given
    if variable.empty_counts:
        text = r.raw(variable.name)
        r.came_from(variable.name, None if text is None else variable.name)
        return default if text is None else r.check(variable.name, text, variable.parse, default)
    flags = (variable.flag,) if variable.flag else ()
    return r.get(*flags, variable.name, *variable.compat, parse=variable.parse, default=default)
