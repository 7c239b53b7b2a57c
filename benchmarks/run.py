"""The benchmark: the real agent, as deployed, into a loopback bulk endpoint.

    python -m benchmarks.run [--records 1000000] [--containers 20] [--seed 1]
        [--scenario all|endpoint|once|latency|fairness|slow-fairness|journal] [--json OUT]
        [--keep]

Scenarios (`all` runs them in this order):
  endpoint  the bulk endpoint alone, fed pre-built bodies from another process:
            its ceiling must be far above the agent's rate, or it is what we measure
  once      `shipper run --once` over a generated tree (cached between runs):
            records/s and MB/s from start to exit, CPU-s per million records,
            peak RSS, and every record delivered exactly once
  latency   a long-running agent while lines are written at a steady --rate:
            delay from a line's time to its arrival, p50/p99/max
  fairness  a quiet container writing a line every 100 ms while another
            container's ~300 MB backlog floods the agent: the quiet lines' delay
  slow-fairness  the same into an endpoint that indexes 30 us a document (about
            33,000 documents/s): the sink is the bottleneck and the buffer is full
  journal   (not in `all`) node logs: --journal-entries kubelet journal entries read by a
            running agent (entries/s, CPU-s per million), then beside container logs and a
            klog node file (peak RSS); needs systemd-journal-remote
Prints Markdown (the issue's table); `--json` writes the same figures.
Exit 1 when a delivery check failed.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from benchmarks import generate as generator
from benchmarks import profile
from benchmarks.agent import REPO, AgentProcess, Usage
from benchmarks.endpoint import EndpointProcess
from benchmarks.generate import Summary
from benchmarks.journal import run_journal
from benchmarks.report import machine, markdown, percentiles
from benchmarks.writers import PacedWriter, make_container

SCENARIOS = ("endpoint", "once", "latency", "fairness", "slow-fairness")
EXTRA_SCENARIOS = ("journal",)  # only when asked for
LATENCY_CONTAINERS = 4
QUIET_RATE = 10.0  # lines a second: one every 100 ms
FLOOD_READ_SHARE = 0.97  # the last 9 MB of the flood: a margin for the 0.1 s polling
FLOOD_RECORDS = 900_000  # about 300 MB of CRI lines in one container
SLOW_US_PER_DOC = 30.0  # slow-fairness: an Elasticsearch absorbing about 33,000 documents/s
_LATENCY_MARKER = "bench-steady"
_QUIET_MARKER = "bench-quiet"
_SETTLE_SECONDS = 60.0  # after writing stops, how long the last lines may take to arrive


def prepare_tree(cache: Path, records: int, containers: int, seed: int) -> tuple[Path, Summary]:
    """A generated CRI tree, reused while one of the same parameters and generator exists."""
    version = hashlib.sha256(Path(generator.__file__).read_bytes()).hexdigest()[:12]
    root = cache / f"cri-{records}r-{containers}c-seed{seed}-{version}"
    done = root / "summary.json"
    if done.exists():
        return root, Summary(**orjson.loads(done.read_bytes()))
    shutil.rmtree(root, ignore_errors=True)
    _say(f"generating {records:,} records in {containers} containers into {root}")
    summary = generator.generate(root, records, containers, seed, "cri")
    done.write_bytes(orjson.dumps(asdict(summary)))
    return root, summary


def measure_endpoint(seconds: float = 3.0, connections: int = 2) -> dict[str, Any]:
    """The endpoint's own ceiling: documents/s it acknowledges to a load generator."""
    with EndpointProcess() as endpoint:
        options = ["--url", endpoint.url, "--seconds", str(seconds), "--connections"]
        load = subprocess.run(
            [sys.executable, "-m", "benchmarks.load", *options, str(connections)],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        stats = endpoint.stats()
    result: dict[str, Any] = orjson.loads(load.stdout)
    result.update(connections=connections, endpoint_cpu_s=round(stats["cpu_s"], 2))
    return result


def run_once(
    tree: Path, summary: Summary, work: Path, settings: Mapping[str, str], timeout: float
) -> dict[str, Any]:
    """`shipper run --once` over `tree`: speed, CPU, memory, and exactly-once delivery."""
    with EndpointProcess() as endpoint:
        agent = AgentProcess(
            [_links(tree)], endpoint.url, work / "once", once=True, settings=settings
        )
        agent.start()
        try:
            usage = agent.wait(timeout)
        finally:
            agent.close()
        stats = endpoint.stats()
    records = summary.records
    return {
        "records": records,
        "bytes": summary.bytes,
        "files": summary.files,
        "records_per_s": round(records / usage.seconds),
        "mb_per_s": round(summary.bytes / 1e6 / usage.seconds, 2),
        "cpu_s_per_million": round(usage.cpu_s * 1e6 / max(1, records), 2),
        **_usage(usage),
        "docs": stats["docs"],
        "distinct": stats["distinct"],
        "repeated": stats["repeated"],
        "exactly_once": usage.exit_code == 0 and stats["docs"] == stats["distinct"] == records,
        "endpoint_cpu_s": round(stats["cpu_s"], 2),
    }


def profile_once(tree: Path, work: Path, settings: Mapping[str, str], timeout: float) -> Path:
    """A second `--once` run under py-spy; the raw samples' path."""
    raw = work / "profile.txt"
    with EndpointProcess() as endpoint:
        agent = AgentProcess(
            [_links(tree)],
            endpoint.url,
            work / "profile",
            once=True,
            settings=settings,
            wrapper=profile.command(raw),
        )
        agent.start()
        try:
            agent.wait(timeout)
        finally:
            agent.close()
    return raw


def run_latency(
    work: Path, rate: float, seconds: float, settings: Mapping[str, str]
) -> dict[str, Any]:
    """Lines written at `rate` a second for `seconds` to a running agent: their delays."""
    root = work / "latency"
    files = [make_container(root, f"steady-{n}") for n in range(LATENCY_CONTAINERS)]
    with EndpointProcess(track=_LATENCY_MARKER) as endpoint:
        agent = AgentProcess(
            [_links(root)], endpoint.url, work / "latency-agent", once=False, settings=settings
        )
        agent.start()
        try:
            agent.wait_ready()
            writer = PacedWriter(files, rate, _LATENCY_MARKER)
            writer.start()
            time.sleep(seconds)
            written = writer.stop()
            _wait_until(lambda: endpoint.stats()["tracked"] >= written, _SETTLE_SECONDS)
            usage = agent.stop()
        finally:
            agent.close()
        delays = endpoint.delays()
    return {
        "rate": rate,
        "write_seconds": seconds,
        "written": written,
        "delivered": len(delays),
        **percentiles(delays),
        **_usage(usage),
    }


def run_fairness(
    cache: Path,
    work: Path,
    seed: int,
    seconds: float,
    settings: Mapping[str, str],
    us_per_doc: float = 0.0,
) -> dict[str, Any]:
    """A quiet container's delays while a big backlog in another one is read.

    The quiet container writes until the agent has read FLOOD_READ_SHARE of the
    backlog (or for `seconds`): every line measured was written while the flood was
    still being read, although the benchmark polls the agent's metrics. With
    `us_per_doc`, the endpoint is that slow (see `benchmarks.endpoint`).
    """
    flood, summary = prepare_tree(cache, FLOOD_RECORDS, 1, seed)
    name = "slow-fairness" if us_per_doc else "fairness"
    root = work / name
    quiet = make_container(root, "quiet")
    with EndpointProcess(track=_QUIET_MARKER, us_per_doc=us_per_doc) as endpoint:
        agent = AgentProcess(
            [_links(flood), _links(root)],
            endpoint.url,
            work / f"{name}-agent",
            once=False,
            settings=settings,
        )
        agent.start()
        try:
            agent.wait_ready()
            writer = PacedWriter([quiet], QUIET_RATE, _QUIET_MARKER)
            writer.start()
            started = time.monotonic()

            def flood_read() -> bool:
                read = agent.metric("shipper_read_bytes_total")
                return read >= FLOOD_READ_SHARE * summary.bytes

            _wait_until(flood_read, seconds)
            window = time.monotonic() - started
            written = writer.stop()
            everything = summary.records + written
            _wait_until(lambda: endpoint.stats()["distinct"] >= everything, _SETTLE_SECONDS)
            counts = endpoint.stats()
            flood_delivered = counts["distinct"] - counts["tracked"]
            usage = agent.stop()
        finally:
            agent.close()
        delays = endpoint.delays()
    return {
        "us_per_doc": us_per_doc,
        "flood_records": summary.records,
        "flood_bytes": summary.bytes,
        "flood_delivered": flood_delivered,
        "window_s": round(window, 2),
        "quiet_lines": written,
        "quiet_delivered": len(delays),
        **percentiles(delays),
        **_usage(usage),
    }


def _links(root: Path) -> str:
    return f"{root}/var/log/containers/*.log"


def _usage(usage: Usage) -> dict[str, Any]:
    return {
        "seconds": round(usage.seconds, 3),
        "cpu_s": round(usage.cpu_s, 2),
        "user_s": round(usage.user_s, 2),
        "sys_s": round(usage.sys_s, 2),
        "peak_rss_mib": round(usage.peak_rss_mib, 1),
        "exit_code": usage.exit_code,
    }


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass; whether it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _say(message: str) -> None:
    print(f"benchmark: {message}", file=sys.stderr, flush=True)


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
    parser.add_argument("--scenario", choices=(*SCENARIOS, *EXTRA_SCENARIOS, "all"), default="all")
    parser.add_argument("--journal-entries", type=int, default=300_000)
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
    parser.add_argument("--keep", action="store_true", help="keep the run's state and logs")
    return parser


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
            _say("measuring the bulk endpoint alone")
            report["endpoint"] = measure_endpoint()
        if "once" in scenarios:
            tree, summary = prepare_tree(args.cache_dir, args.records, args.containers, args.seed)
            timeout = max(300.0, summary.records / 1000)
            _say(f"once: {summary.records:,} records, {summary.bytes / 1e6:,.0f} MB")
            report["once"] = run_once(tree, summary, work, settings, timeout)
            if args.profile:
                _say("once again, under py-spy")
                raw = profile_once(tree, work, settings, timeout)
                report["profile"] = [
                    {"function": name, "seconds": round(s, 2), "share": round(share, 4)}
                    for name, s, share in profile.own_time(raw)
                ]
        if "latency" in scenarios:
            _say(f"latency: {args.rate:,.0f} records/s for {args.seconds:.0f} s")
            report["latency"] = run_latency(work, args.rate, args.seconds, settings)
        if "fairness" in scenarios:
            _say(f"fairness: a quiet container beside a {FLOOD_RECORDS:,}-record backlog")
            report["fairness"] = run_fairness(
                args.cache_dir, work, args.seed, args.seconds, settings
            )
        if "slow-fairness" in scenarios:
            _say(f"slow-fairness: the same into an endpoint taking {SLOW_US_PER_DOC:.0f} us a doc")
            report["slow-fairness"] = run_fairness(
                args.cache_dir, work, args.seed, args.seconds, settings, SLOW_US_PER_DOC
            )
        if "journal" in scenarios:
            _say(f"journal: {args.journal_entries:,} entries, then beside the other sources")
            report["journal"] = run_journal(work, args.journal_entries, settings)
    finally:
        if args.keep:
            _say(f"state and agent logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(markdown(report), end="")
    if args.json:
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    return 0 if _delivered(report) else 1


def _delivered(report: dict[str, Any]) -> bool:
    """Whether every delivery check of the scenarios that ran passed."""
    checks = []
    if "once" in report:
        checks.append(report["once"]["exactly_once"])
    if "latency" in report:
        checks.append(report["latency"]["delivered"] == report["latency"]["written"])
    if "journal" in report:
        checks += [report["journal"]["exactly_once"], report["journal"]["both_exactly_once"]]
    for name in ("fairness", "slow-fairness"):
        if name in report:
            fairness = report[name]
            checks.append(fairness["quiet_delivered"] == fairness["quiet_lines"])
    return all(checks)


if __name__ == "__main__":
    sys.exit(main())
