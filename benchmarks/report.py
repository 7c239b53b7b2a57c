"""The benchmark's results as the issue's Markdown table, and the machine they came from."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Sequence
from typing import Any

from shipper import __version__


def machine() -> dict[str, Any]:
    """CPU model, cores, OS and Python: a table means little without them."""
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in cpuinfo
                    if line.startswith("model name")
                ),
                model,
            )
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "agent": f"shipper {__version__}",
    }


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50, p99 and max (nearest rank), in seconds; None when there are no values."""
    if not values:
        return {"p50_s": None, "p99_s": None, "max_s": None}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return round(ordered[max(0, math.ceil(p * len(ordered)) - 1)], 4)

    return {"p50_s": rank(0.50), "p99_s": rank(0.99), "max_s": round(ordered[-1], 4)}


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: the issue's table, then delays and checks."""
    host = report["machine"]
    out = [
        f"Machine: {host['cpu']}, {host['cores']} cores, {host['os']}, Python {host['python']}.",
    ]
    if report.get("settings"):
        settings = ", ".join(f"{k}={v}" for k, v in report["settings"].items())
        out.append(f"Agent settings besides the defaults: {settings}.")
    out.append("")
    once = report.get("once")
    if once:
        out += [
            f"{once['records']:,} CRI records ({once['bytes'] / 1e6:,.0f} MB), "
            f"{once['files']} containers, `--once`:",
            "",
            "| agent | records/s | MB/s | CPU-s per million records | peak RSS |",
            "|---|---|---|---|---|",
            f"| {host['agent']} | {once['records_per_s']:,.0f} | {once['mb_per_s']:,.1f} "
            f"| {once['cpu_s_per_million']:,.1f} | {once['peak_rss_mib']:,.0f} MiB |",
            *_peer_rows(report),
            "",
        ]
    journal = report.get("journal")
    if journal:
        out += [
            f"{journal['entries']:,} journal entries (running agent, from start to the last "
            "arrival), then with container logs and a node file beside them "
            f"({journal['both_records']:,} records):",
            "",
            "| sources | records/s | CPU-s per million records (with journalctl) "
            "| peak RSS: agent (the larger of agent and journalctl) |",
            "|---|---|---|---|",
            f"| journal | {journal['entries_per_s']:,.0f} | {journal['cpu_s_per_million']:,.1f} "
            f"| {journal['agent_peak_rss_mib']:,.0f} ({journal['peak_rss_mib']:,.0f}) MiB |",
            f"| journal + containers + node file | {journal['both_records_per_s']:,.0f} "
            f"| {journal['both_cpu_s_per_million']:,.1f} "
            f"| {journal['both_agent_peak_rss_mib']:,.0f} "
            f"({journal['both_peak_rss_mib']:,.0f}) MiB |",
            "",
        ]
    rows = []
    latency = report.get("latency")
    if latency:
        rows.append(
            _delay_row(
                f"delivery latency at {latency['rate']:,.0f} records/s "
                f"for {latency['write_seconds']:.0f} s",
                latency,
            )
        )
    for fairness in filter(None, (report.get("fairness"), report.get("slow-fairness"))):
        slow = fairness.get("us_per_doc")
        into = f" into an endpoint taking {slow:.0f} µs a document" if slow else ""
        rows.append(
            _delay_row(
                f"a quiet container's delay while a {fairness['flood_bytes'] / 1e6:,.0f} MB "
                f"backlog floods{into}",
                fairness,
            )
        )
    if rows:
        out += ["| delay | p50 | p99 | max |", "|---|---|---|---|", *rows, ""]
    out += _many_rows(report)
    out += [f"- {line}" for line in _notes(report)]
    if report.get("profile"):
        out += ["", "Profile of a second `--once` run (py-spy), top functions by own time:", ""]
        out += ["| function | own CPU-s | share |", "|---|---|---|"]
        out += [
            f"| `{row['function']}` | {row['seconds']:.2f} | {row['share']:.1%} |"
            for row in report["profile"]
        ]
    return "\n".join(out) + "\n"


def _peer_rows(report: dict[str, Any]) -> list[str]:
    """Fluent Bit's `once` row, when it ran beside shipper."""
    peer = report.get("fluent-bit")
    if not peer:
        return []
    return [
        f"| {peer['agent']} | {peer['records_per_s']:,.0f} | {peer['mb_per_s']:,.1f} "
        f"| {peer['cpu_s_per_million']:,.1f} | {peer['peak_rss_mib']:,.0f} MiB |"
    ]


def _many_rows(report: dict[str, Any]) -> list[str]:
    """The many-file scenarios, one row each, with the 20-file run beside the busy one."""
    rows = []
    for name, result in report.items():
        if name.startswith("many-busy"):
            rows.append(
                f"| {result['files']:,} files writing {result['rate']:,.0f} records/s "
                f"for {result['write_seconds']:.0f} s | {result['cpu_s_per_million']:.2f} "
                f"CPU-s per million | {result['peak_rss_mib']:.0f} MiB | delay p50 "
                f"{_seconds(result['p50_s'])}, p99 {_seconds(result['p99_s'])}, max "
                f"{_seconds(result['max_s'])}; {result['delivered']:,} of "
                f"{result['written']:,} delivered |"
            )
    idle = report.get("many-idle")
    if idle:
        rows.append(
            f"| {idle['files']:,} files idle for {idle['idle_seconds']:.0f} s "
            f"| {idle['core_share']:.2%} of a core | RSS {idle['rss_start_mib']:.1f} → "
            f"{idle['rss_end_mib']:.1f} MiB | |"
        )
    first = report.get("startup")
    if first:
        rows.append(
            f"| start-up (median of {first['runs']}) | `version` {first['version_s']:.3f} s, "
            f"`check-config` {first['check_config_s']:.3f} s | | first document "
            f"{first['first_document_s']:.3f} s (max {first['first_document_max_s']:.3f} s) |"
        )
    churn = report.get("churn")
    if churn:
        rows.append(
            f"| {churn['per_second']:g} pods a second created and deleted for "
            f"{churn['seconds']:.0f} s | {churn['core_share']:.2%} of a core "
            f"| {churn['peak_rss_mib']:.0f} MiB | {churn['delivered']:,} of "
            f"{churn['written']:,} lines delivered |"
        )
    if not rows:
        return []
    return ["| many files | CPU | memory | delivery |", "|---|---|---|---|", *rows, ""]


def _delay_row(name: str, result: dict[str, Any]) -> str:
    cells = " | ".join(_seconds(result[key]) for key in ("p50_s", "p99_s", "max_s"))
    return f"| {name} | {cells} |"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def _notes(report: dict[str, Any]) -> list[str]:
    """One line per scenario: what was checked, and the figures behind the table."""
    notes = []
    endpoint = report.get("endpoint")
    if endpoint:
        notes.append(
            f"bulk endpoint alone: {endpoint['docs_per_s']:,} documents/s "
            f"({endpoint['connections']} connections from another process)"
        )
    once = report.get("once")
    if once:
        notes.append(
            f"`--once`: {_verdict(once['exactly_once'])}: {once['distinct']:,} distinct ids, "
            f"{once['docs']:,} documents for {once['records']:,} records, "
            f"exit {once['exit_code']}; "
            f"{once['seconds']:.1f} s, {once['cpu_s']:.1f} CPU-s (user {once['user_s']:.1f}, "
            f"sys {once['sys_s']:.1f}); the endpoint used {once['endpoint_cpu_s']:.1f} CPU-s"
        )
    if "fluent-bit" in report:
        notes.append(_peer_note(report["fluent-bit"]))
    latency = report.get("latency")
    if latency:
        notes.append(
            f"latency: {latency['delivered']:,} of {latency['written']:,} lines delivered; "
            f"agent {latency['cpu_s']:.1f} CPU-s over {latency['seconds']:.0f} s, "
            f"peak RSS {latency['peak_rss_mib']:.0f} MiB"
        )
    for name in ("fairness", "slow-fairness"):
        fairness = report.get(name)
        if not fairness:
            continue
        notes.append(
            f"{name}: {fairness['quiet_delivered']} of {fairness['quiet_lines']} quiet lines "
            f"delivered, written over the {fairness['window_s']:.1f} s the agent took to read 97 % "
            f"of the flood; {fairness['flood_delivered']:,} of {fairness['flood_records']:,} flood "
            f"records delivered; "
            f"peak RSS {fairness['peak_rss_mib']:.0f} MiB"
        )
    return notes


def _peer_note(peer: dict[str, Any] | None) -> str:
    if peer is None:
        return "no `fluent-bit` on the PATH, so no Fluent Bit row beside shipper's"
    return (
        f"{peer['agent']}: {_verdict(peer['exactly_once'])}: {peer['distinct']:,} distinct ids "
        f"({peer['missing']:,} missing, {peer['extra']:,} extra), {peer['docs']:,} documents "
        f"({peer['repeated']:,} repeated) for {peer['records']:,} records; "
        f"{peer['seconds']:.1f} s to the last acknowledgement, {peer['cpu_s']:.1f} "
        f"CPU-s with its shutdown; the endpoint used {peer['endpoint_cpu_s']:.1f} CPU-s"
    )


def _verdict(ok: bool) -> str:
    return "every record arrived exactly once" if ok else "**FAILED: not exactly once**"
