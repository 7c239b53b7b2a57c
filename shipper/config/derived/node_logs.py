"""The journal's units: SHIPPER_JOURNAL_UNITS, else the image's FLUENTD_SYSTEMD_CONF switch."""

from __future__ import annotations

from shipper.config.reader import Reader
from shipper.settings import NodeLogSettings

_DEFAULTS = NodeLogSettings()
_UNIT_TYPES = (".service", ".socket", ".scope", ".slice", ".mount", ".timer", ".target")


def journal_units(r: Reader) -> tuple[str, ...]:
    """SHIPPER_JOURNAL_UNITS (empty: the journal is not read), else off when the image's
    FLUENTD_SYSTEMD_CONF=disable, else the kubelet and the container runtimes."""
    text = r.raw("SHIPPER_JOURNAL_UNITS")
    if text is None:
        if r.get("FLUENTD_SYSTEMD_CONF", parse=str, default="systemd").strip() == "disable":
            r.derived("SHIPPER_JOURNAL_UNITS", "FLUENTD_SYSTEMD_CONF=disable")
            return ()
        r.came_from("SHIPPER_JOURNAL_UNITS", None)
        return _DEFAULTS.journal_units
    r.came_from("SHIPPER_JOURNAL_UNITS", "SHIPPER_JOURNAL_UNITS")
    return r.check("SHIPPER_JOURNAL_UNITS", text, units, _DEFAULTS.journal_units)


def units(text: str) -> tuple[str, ...]:
    """Comma-separated systemd unit names; empty turns the journal off."""
    found = tuple(part.strip() for part in text.split(",") if part.strip())
    for unit in found:
        if not unit.endswith(_UNIT_TYPES) or any(c.isspace() or c == "=" for c in unit):
            raise ValueError(f"{unit!r} is not a systemd unit name (example: kubelet.service)")
    return found
