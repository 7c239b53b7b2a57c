"""Looking variables up for the loader: the first set name wins, errors are collected.

The reader also remembers where each shown variable's value came from (a flag, the
variable, a compat name, derived, or the default) for `check-config`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

T = TypeVar("T")

Flags = Mapping[str, object]  # flag name (`--es`) -> its value; unset ones are empty or None


class Reader:
    """Looks variables and flags up and collects errors instead of raising."""

    def __init__(
        self,
        env: Mapping[str, str],
        flags: Flags,
        secret_names: Collection[str],
        *,
        terminal: bool = False,
    ) -> None:
        self.terminal = terminal  # stderr is a terminal: some defaults suit people
        self._env = env
        self._values = {name: value for name, value in env.items() if value != ""}
        self._flags = flags
        for flag, value in flags.items():
            if isinstance(value, str) and value:
                self._values[flag] = value
        self._secret_names = secret_names
        self.errors: list[str] = []
        self.secrets = [value for name, value in env.items() if name in secret_names]
        self._sources: dict[str, str] = {}  # variable -> where its value came from
        self._memo: dict[str, Any] = {}

    def source_of(self, variable: str) -> str:
        return self._sources.get(variable, "default")

    def came_from(self, variable: str, name: str | None) -> None:
        """Record that `variable`'s value was taken from `name` (a flag, it, or a compat name)."""
        if name is None:
            source = "default"
        elif name.startswith("--"):
            source = f"flag {name}"
        elif name == variable:
            source = "variable"
        else:
            source = f"compat variable {name}"
        self._sources[variable] = source

    def derived(self, variable: str, how: str) -> None:
        self._sources[variable] = f"derived: {how}"

    def flag(self, name: str) -> Any:
        """A flag's value as given (None, empty or False when not given)."""
        return self._flags.get(name)

    def first(self, *names: str) -> str | None:
        """The first of `names` (variables or string flags) that is set."""
        return next((name for name in names if name in self._values), None)

    def value(self, name: str) -> str:
        return self._values[name]

    def raw(self, name: str) -> str | None:
        """The value even when empty: for variables where empty means something."""
        return self._env.get(name)

    def get(self, *names: str, parse: Callable[[str], T], default: T) -> T:
        """The first set variable parsed, or `default` when none is set (or it is bad)."""
        name = self.first(*names)
        self.came_from(next(n for n in names if not n.startswith("--")), name)
        return default if name is None else self.check(name, self._values[name], parse, default)

    def check(self, name: str, text: str, parse: Callable[[str], T], default: T) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            self.fail(name, text, str(exc))
            return default

    def fail(self, name: str, text: str, message: str) -> None:
        shown = "***" if name in self._secret_names else repr(text)
        self.errors.append(f"{name}={shown}: {message}")

    def once(self, key: str, compute: Callable[[Reader], T]) -> T:
        """`compute(self)` the first time `key` is asked for, the same value afterwards:
        for settings that several fields share (hosts and their credentials)."""
        if key not in self._memo:
            self._memo[key] = compute(self)
        return self._memo[key]
