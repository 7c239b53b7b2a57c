"""Fluent Bit beside shipper: the `once` corpus read by a `fluent-bit` on the PATH.

The project neither vendors nor builds Fluent Bit; when a binary is on the PATH, the
`once` scenario runs it over the same tree into an endpoint of its own, with Fluent
Bit's defaults besides what the comparison needs: tail with the built-in `cri`
multiline parser (partial lines joined, as shipper joins them) and a position DB, into
`es`. No `Mem_Buf_Limit`: with the 5MB of Fluent Bit's Kubernetes example, reading
pauses until the next flush (every second) and the rate measures that limit, not
Fluent Bit (about 9,000 records/s on the 1,000,000-record tree).

Fluent Bit has no `--once`: the benchmark watches the endpoint until every record is
acknowledged (or nothing more arrives for `STALL_SECONDS`), then stops it with SIGTERM.
Its rate counts from its start to that last acknowledgement; its CPU time (`wait4`)
and peak RSS (`VmHWM`) are its own, including the shutdown. `Generate_ID` gives each document an
id (a hash of the record, which carries its file's path), so the endpoint tells a
record delivered twice from two records.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks.agent import AgentProcess, agent_environment
from benchmarks.endpoint import EndpointProcess
from benchmarks.generate import Summary
from benchmarks.writers import links

BINARY = "fluent-bit"
STALL_SECONDS = 30.0  # no document acknowledged for this long: Fluent Bit is done or stuck
_POLL = 0.05  # seconds between looks at the endpoint's count: the rate's resolution
_INDEX = "bench"


def find() -> str | None:
    """The `fluent-bit` binary on the PATH, if any."""
    return shutil.which(BINARY)


def describe(binary: str) -> str:
    """Its name, version and whether it was built with jemalloc (as the official release
    is), from its own `--version` and `--help` (whose build flags list FLB_HAVE_*)."""
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    name = version.stdout.splitlines()[0].strip().replace(" v", " ")  # "Fluent Bit 4.2.8"
    flags = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
    return name + (" (jemalloc)" if "FLB_HAVE_JEMALLOC" in flags else "")


def config(tree: Path, workdir: Path, es_url: str) -> str:
    """The classic-format configuration: `tree`'s container logs into `es_url`."""
    url = urlsplit(es_url)
    return f"""\
[SERVICE]
    Flush            1
    Grace            1
    Daemon           Off
    Log_Level        warn
    HTTP_Server      Off

[INPUT]
    Name             tail
    Path             {links(tree)}
    Tag              kube.*
    Path_Key         path
    multiline.parser cri
    Read_From_Head   On
    DB               {workdir / "tail.db"}

[OUTPUT]
    Name               es
    Match              *
    Host               {url.hostname}
    Port               {url.port}
    Index              {_INDEX}
    Logstash_Format    Off
    Suppress_Type_Name On
    Generate_ID        On
    Buffer_Size        False
    Retry_Limit        False
"""


class FluentBitProcess(AgentProcess):
    """`fluent-bit -c CONF`, started, waited for and stopped as the agent is."""

    def __init__(self, binary: str, conf: Path, workdir: Path) -> None:
        # Not the agent's __init__: no shipper settings, only the command and its log.
        self.log_path = workdir / "fluent-bit.log"
        self._env = agent_environment()  # without any FLUENT* variable
        self._args = [binary, "-c", str(conf)]
        self._proc = None
        self._started = 0.0

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None


def run_fluent_bit(
    binary: str, tree: Path, summary: Summary, work: Path, timeout: float
) -> dict[str, Any]:
    """Fluent Bit over `tree` into a fresh endpoint: the `once` row's figures beside
    shipper's, and how many records arrived how often."""
    workdir = work / "fluent-bit"
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "fluent-bit.conf"
    with EndpointProcess() as endpoint:
        conf.write_text(config(tree, workdir, endpoint.url))
        process = FluentBitProcess(binary, conf, workdir)
        started = time.perf_counter()
        process.start()
        try:
            seconds = _until_acknowledged(endpoint, process, summary.records, timeout) - started
            usage = process.stop()
        finally:
            process.close()
        stats = endpoint.stats()
    records, delivered = summary.records, stats["distinct"]
    return {
        "agent": describe(binary),
        "records": records,
        "records_per_s": round(delivered / seconds),
        "mb_per_s": round(summary.bytes * delivered / records / 1e6 / seconds, 2),
        "cpu_s_per_million": round(usage.cpu_s * 1e6 / max(1, records), 2),
        "seconds": round(seconds, 3),
        "cpu_s": round(usage.cpu_s, 2),
        "peak_rss_mib": round(usage.peak_rss_mib, 1),
        "exit_code": usage.exit_code,
        "docs": stats["docs"],
        "distinct": stats["distinct"],
        "repeated": stats["repeated"],
        "missing": max(0, records - delivered),
        "extra": max(0, delivered - records),  # distinct documents no record matches whole
        "exactly_once": stats["docs"] == stats["distinct"] == records,
        "endpoint_cpu_s": round(stats["cpu_s"], 2),
    }


def _until_acknowledged(
    endpoint: EndpointProcess, process: FluentBitProcess, records: int, timeout: float
) -> float:
    """The `perf_counter` time the endpoint last saw its count grow: when it holds every
    record, or when nothing arrived for STALL_SECONDS, Fluent Bit exited, or `timeout`."""
    deadline = time.monotonic() + timeout
    count, grew = 0, time.perf_counter()
    while process.running() and time.monotonic() < deadline:
        now = endpoint.stats()["distinct"]
        if now != count:
            count, grew = now, time.perf_counter()
        if count >= records or time.perf_counter() - grew > STALL_SECONDS:
            break
        time.sleep(_POLL)
    return grew
