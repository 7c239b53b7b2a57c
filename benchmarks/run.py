"""The benchmark: the real agent, as deployed, into a loopback bulk endpoint.

    python -m benchmarks.run [--records 1000000] [--containers 20] [--seed 1]
        [--scenario all|endpoint|once|latency|fairness|slow-fairness|journal|...]
        [--json OUT] [--no-peers] [--keep]

Scenarios (`all` runs them in this order):
  endpoint  the bulk endpoint alone, fed pre-built bodies from another process:
            its ceiling must be far above the agent's rate, or it is what we measure
  once      `shipper run --once` over a generated tree (cached between runs):
            records/s and MB/s from start to exit, CPU-s per million records,
            peak RSS, and every record delivered exactly once; then the same tree
            read by a `fluent-bit` on the PATH, if any (`benchmarks.fluentbit`)
  latency   a long-running agent while lines are written at a steady --rate:
            delay from a line's time to its arrival, p50/p99/max
  fairness  a quiet container writing a line every 100 ms while another
            container's ~300 MB backlog floods the agent: the quiet lines' delay
  slow-fairness  the same into an endpoint that indexes 30 us a document (about
            33,000 documents/s): the sink is the bottleneck and the buffer is full
  journal   (not in `all`) node logs: --journal-entries kubelet journal entries read by a
            running agent (entries/s, CPU-s per million), then beside container logs and a
            klog node file (peak RSS); needs systemd-journal-remote
  many-idle, many-busy, churn  a node with --files containers (`benchmarks.many`);
            not part of `all`
  outage    (not in `all`) --outage-mb written while the endpoint refuses connections for
            --outage-seconds: the agent's peak RSS meanwhile, then every line delivered once
  startup   `version` and `check-config` wall time, and `run` to its first document
            delivered (`benchmarks.startup`); not part of `all`
Prints Markdown (the issue's table); `--json` writes the same figures.
Exit 1 when a delivery check failed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from benchmarks import fluentbit, many, profile, startup
from benchmarks.journal import run_journal
from benchmarks.outage import outage_markdown, run_outage
from benchmarks.report import machine, markdown
from benchmarks.scenarios import (
    FLOOD_RECORDS,
    SLOW_US_PER_DOC,
    measure_endpoint,
    prepare_tree,
    profile_once,
    run_fairness,
    run_latency,
    run_once,
    say,
)

SCENARIOS = ("endpoint", "once", "latency", "fairness", "slow-fairness")


def _settings(parser: argparse.ArgumentParser, pairs: list[str]) -> dict[str, str]:
    """The `--set` pairs as environment variables for the agent."""
    settings = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.startswith("SHIPPER_"):
            parser.error(f"--set wants SHIPPER_NAME=VALUE, not {pair!r}")
        settings[name] = value
    return settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--containers", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--scenario",
        choices=(*SCENARIOS, *many.MANY_SCENARIOS, "startup", "journal", "outage", "all"),
        default="all",
    )
    _scenario_options(parser)
    parser.add_argument("--rate", type=float, default=10_000, help="latency: records/s")
    parser.add_argument(
        "--seconds", type=float, default=20, help="latency and fairness: how long to write"
    )
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the results here")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SHIPPER_NAME=VALUE",
        help="an agent setting besides the defaults (repeatable)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after `once`, run it again under py-spy and print the top functions by own time",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "shipper-bench",
        help="where generated trees are kept between runs",
    )
    parser.add_argument(
        "--no-peers",
        action="store_true",
        help="`once` without Fluent Bit beside shipper, even when `fluent-bit` is on the PATH",
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's state and logs")
    return parser


def _scenario_options(parser: argparse.ArgumentParser) -> None:
    """The options of the scenarios that run only when named."""
    parser.add_argument("--files", type=int, default=1000, help="many-*: containers")
    parser.add_argument(
        "--idle-seconds", type=float, default=60, help="many-idle: how long to watch"
    )
    parser.add_argument("--churn", type=float, default=5, help="churn: pods a second")
    parser.add_argument("--journal-entries", type=int, default=300_000)
    parser.add_argument("--outage-mb", type=float, default=200, help="outage: MB written")
    parser.add_argument(
        "--outage-seconds", type=float, default=60, help="outage: how long the endpoint is down"
    )


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    settings = _settings(parser, args.set)
    if args.profile:
        try:
            profile.py_spy()
        except FileNotFoundError as exc:
            parser.error(str(exc))
    scenarios = SCENARIOS if args.scenario == "all" else (args.scenario,)
    work = Path(tempfile.mkdtemp(prefix="shipper-bench-run-"))
    report: dict[str, Any] = {"machine": machine(), "settings": settings}
    try:
        if "endpoint" in scenarios:
            say("measuring the bulk endpoint alone")
            report["endpoint"] = measure_endpoint()
        if "once" in scenarios:
            _run_once(args, work, settings, report)
        if "latency" in scenarios:
            say(f"latency: {args.rate:,.0f} records/s for {args.seconds:.0f} s")
            report["latency"] = run_latency(work, args.rate, args.seconds, settings)
        if "fairness" in scenarios:
            say(f"fairness: a quiet container beside a {FLOOD_RECORDS:,}-record backlog")
            report["fairness"] = run_fairness(
                args.cache_dir, work, args.seed, args.seconds, settings
            )
        if "slow-fairness" in scenarios:
            say(f"slow-fairness: the same into an endpoint taking {SLOW_US_PER_DOC:.0f} us a doc")
            report["slow-fairness"] = run_fairness(
                args.cache_dir, work, args.seed, args.seconds, settings, SLOW_US_PER_DOC
            )
        _run_many(args, work, settings, report)
    finally:
        if args.keep:
            say(f"state and agent logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(markdown(report) + outage_markdown(report.get("outage")), end="")
    if args.json:
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    return 0 if _delivered(report) else 1


def _run_once(
    args: argparse.Namespace, work: Path, settings: dict[str, str], report: dict[str, Any]
) -> None:
    """`once`, then Fluent Bit over the same tree when one is on the PATH (unless
    `--no-peers`), then the profile if asked for."""
    tree, summary = prepare_tree(args.cache_dir, args.records, args.containers, args.seed)
    timeout = max(300.0, summary.records / 1000)
    say(f"once: {summary.records:,} records, {summary.bytes / 1e6:,.0f} MB")
    report["once"] = run_once(tree, summary, work, settings, timeout)
    if not args.no_peers:
        binary = fluentbit.find()
        if binary:
            say(f"once: the same tree read by {binary}")
            report["fluent-bit"] = fluentbit.run_fluent_bit(binary, tree, summary, work, timeout)
        else:
            report["fluent-bit"] = None  # the report says there was none to compare with
    if args.profile:
        say("once again, under py-spy")
        raw = profile_once(tree, work, settings, timeout)
        report["profile"] = [
            {"function": name, "seconds": round(s, 2), "share": round(share, 4)}
            for name, s, share in profile.own_time(raw)
        ]


def _run_many(
    args: argparse.Namespace, work: Path, settings: dict[str, str], report: dict[str, Any]
) -> None:
    """The many-file, start-up, journal or outage scenario asked for, if any."""
    if args.scenario == "many-idle":
        say(f"many-idle: {args.files:,} files read, then {args.idle_seconds:.0f} s idle")
        report["many-idle"] = many.run_idle(work, args.files, args.idle_seconds, settings)
    elif args.scenario == "many-busy":
        for files in (many.BASELINE_FILES, args.files):
            say(f"many-busy: {files:,} files, {args.rate:,.0f} records/s in total")
            report[f"many-busy-{files}"] = many.run_busy(
                work, files, args.rate, args.seconds, settings
            )
    elif args.scenario == "startup":
        say("startup: version, check-config and the first document, median of 5")
        report["startup"] = startup.run_startup(work, settings)
    elif args.scenario == "journal":
        say(f"journal: {args.journal_entries:,} entries, then beside the other sources")
        report["journal"] = run_journal(work, args.journal_entries, settings)
    elif args.scenario == "churn":
        say(f"churn: {args.churn:g} pods a second for {args.seconds:.0f} s")
        report["churn"] = many.run_churn(work, args.churn, args.seconds, settings)
    elif args.scenario == "outage":
        say(f"outage: {args.outage_mb:,.0f} MB written while the endpoint is down")
        report["outage"] = run_outage(work, args.outage_mb, args.outage_seconds, settings)


def _delivered(report: dict[str, Any]) -> bool:
    """Whether every delivery check of the scenarios that ran passed."""
    checks = []
    if "once" in report:
        checks.append(report["once"]["exactly_once"])
    if "latency" in report:
        checks.append(report["latency"]["delivered"] == report["latency"]["written"])
    if "outage" in report:
        checks.append(report["outage"]["exactly_once"])
    if "journal" in report:
        checks += [report["journal"]["exactly_once"], report["journal"]["both_exactly_once"]]
    for name in ("fairness", "slow-fairness"):
        if name in report:
            fairness = report[name]
            checks.append(fairness["quiet_delivered"] == fairness["quiet_lines"])
    for name, result in report.items():
        if name.startswith("many-busy") or name == "churn":
            checks.append(result["delivered"] == result["written"])
    return all(checks)


if __name__ == "__main__":
    sys.exit(main())
