"""The benchmark's machinery: correctness only, never a timing assertion.

The smoke run is the real agent over a small generated tree into the loopback
endpoint; the rest checks that the instrument counts and answers right.
"""

from __future__ import annotations

import calendar
import gzip
import re
import socket
import time
from pathlib import Path

import httpx
import orjson
import pytest

from benchmarks.endpoint import BulkStore, EndpointProcess
from benchmarks.load import measure
from benchmarks.profile import own_time
from benchmarks.report import percentiles
from benchmarks.run import main
from benchmarks.scenarios import prepare_tree
from benchmarks.writers import PacedWriter, cri_time, make_container
from shipper.sinks.elasticsearch.bulk import parse_bulk_response
from shipper.transforms.enrichment.naming import names_from_path

ONCE_FIELDS = (
    "records_per_s",
    "mb_per_s",
    "cpu_s_per_million",
    "peak_rss_mib",
    "seconds",
    "cpu_s",
    "user_s",
    "endpoint_cpu_s",
)


def _bulk(*docs: tuple[str, bytes], op: str = "create") -> bytes:
    """An NDJSON body of (id, document) pairs."""
    lines = []
    for doc_id, doc in docs:
        lines += [b'{"%s":{"_index":"logs","_id":"%s"}}' % (op.encode(), doc_id.encode()), doc]
    return b"\n".join(lines) + b"\n"


def _doc(stamp: str, text: str = "hello") -> bytes:
    return b'{"@timestamp":"%s","stream":"stdout","log":"%s"}' % (stamp.encode(), text.encode())


def test_once_smoke_run_delivers_every_record_exactly_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, cache = tmp_path / "report.json", tmp_path / "cache"
    small = ["--records", "20000", "--containers", "4", "--cache-dir", str(cache)]
    code = main([*small, "--scenario", "once", "--json", str(out)])
    assert code == 0
    report = orjson.loads(out.read_bytes())
    once = report["once"]
    assert once["records"] == once["docs"] == once["distinct"] == 20000
    assert (once["repeated"], once["exit_code"], once["exactly_once"]) == (0, 0, True)
    assert once["files"] == 4 and once["bytes"] > 20000 * 80
    assert all(once[field] > 0 for field in ONCE_FIELDS), once
    assert {"cpu", "cores", "python", "agent"} <= report["machine"].keys()
    printed = capsys.readouterr().out
    assert "| agent | records/s | MB/s | CPU-s per million records | peak RSS |" in printed
    assert "every record arrived exactly once" in printed


def test_generated_trees_are_reused(tmp_path: Path) -> None:
    root, summary = prepare_tree(tmp_path, records=300, containers=2, seed=3)
    log = next((root / "var/log/pods").rglob("0.log"))
    written = log.stat().st_mtime_ns
    again = prepare_tree(tmp_path, records=300, containers=2, seed=3)
    assert again == (root, summary) and summary.records == 300
    assert log.stat().st_mtime_ns == written
    assert prepare_tree(tmp_path, records=300, containers=2, seed=4)[0] != root


def test_endpoint_answers_each_item_and_counts_distinct_ids() -> None:
    store = BulkStore(marker=None)
    body = _bulk(("a-1", _doc("2024-05-01T00:00:00Z")), ("a-2", _doc("2024-05-01T00:00:01Z")))
    status, answer = store.bulk(body)
    assert status == 200
    items = orjson.loads(answer)["items"]
    assert [(i["create"]["_id"], i["create"]["status"]) for i in items] == [
        ("a-1", 201),
        ("a-2", 201),
    ]
    assert parse_bulk_response(answer, 2, "create").retry == []
    # A replay: the repeated id is a 409 (what `create` answers), the new one stored.
    status, answer = store.bulk(_bulk(("a-2", _doc("2024-05-01T00:00:01Z")), ("a-3", _doc("x"))))
    statuses = [item["create"]["status"] for item in orjson.loads(answer)["items"]]
    assert (status, statuses) == (200, [409, 201])
    outcome = parse_bulk_response(answer, 2, "create")
    assert (outcome.retry, outcome.rejected) == ([], [])
    counts = orjson.loads(store.counts.as_json())
    assert (counts["docs"], counts["distinct"], counts["repeated"]) == (4, 3, 1)
    assert store.bulk(b'{"create":{}}\n')[0] == 400


def test_endpoint_records_the_delay_of_marked_documents() -> None:
    store = BulkStore(marker=b"probe")
    sent = time.time_ns() - 2 * 10**9
    store.bulk(
        _bulk(("p-1", _doc(cri_time(sent), "probe 1")), ("p-2", _doc(cri_time(sent), "other")))
    )
    (delay,) = store.counts.delays
    assert 2.0 <= delay < 3.0


def test_endpoint_process_speaks_http_keep_alive_and_gzip() -> None:
    with EndpointProcess() as endpoint, httpx.Client(base_url=endpoint.url) as client:
        assert client.get("/").json()["version"]["number"].startswith("8.")
        assert client.head("/").status_code == 200
        assert client.get("/_index_template/shipper").status_code == 404
        assert client.put("/_index_template/shipper", content=b'{"priority":200}').json() == {
            "acknowledged": True
        }
        found = client.get("/_index_template/shipper").json()["index_templates"][0]
        assert found["index_template"] == {"priority": 200}
        body = gzip.compress(_bulk(("g-1", _doc("2024-05-01T00:00:00Z"))))
        answer = client.post(
            "/_bulk",
            content=body,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/x-ndjson"},
        )
        assert answer.json()["errors"] is False
        assert client.post("/_bulk", content=iter([b'{"create":{}}\n'])).status_code == 411
        stats = endpoint.stats()
    assert (stats["requests"], stats["docs"], stats["distinct"]) == (1, 1, 1)


def test_load_generator_is_acknowledged_in_full() -> None:
    with EndpointProcess() as endpoint:
        result = measure(endpoint.url, seconds=0.2, connections=2)
        stats = endpoint.stats()
    assert result["docs"] >= 20000 and result["docs_per_s"] > 0
    assert stats["distinct"] == stats["docs"] == result["docs"]


def test_paced_writer_writes_nameable_cri_lines_at_its_rate(tmp_path: Path) -> None:
    path = make_container(tmp_path, "quiet")
    (link,) = (tmp_path / "var/log/containers").iterdir()
    assert link.resolve() == path.resolve()
    names = names_from_path(str(path), str(link))
    assert (names.namespace_name, names.pod_name, names.container_name) == ("bench", "quiet", "app")
    assert names.pod_id and names.container_id
    writer = PacedWriter([path], rate=500, marker="probe")
    writer.start()
    deadline = time.monotonic() + 10
    while writer.written < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    written = writer.stop()
    lines = path.read_bytes().splitlines()
    assert len(lines) == written >= 50
    stamp, stream, tag, text = lines[0].split(b" ", 3)
    assert (stream, tag) == (b"stdout", b"F") and text.startswith(b"probe seq=0 ")
    written_at = calendar.timegm(time.strptime(stamp[:19].decode(), "%Y-%m-%dT%H:%M:%S"))
    assert abs(written_at - time.time()) < 10 and re.fullmatch(rb"[-T:.0-9]{29}Z", stamp)
    assert all(80 <= len(line) + 1 <= 300 for line in lines)


def test_own_time_ranks_leaf_frames(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "<module> (run.py:1);loop (a/b.py:10);parse (a/cri.py:5) 30\n"
        "<module> (run.py:1);loop (a/b.py:12);parse (a/cri.py:9) 10\n"
        "<module> (run.py:1);loop (a/b.py:10) 20\n"
    )
    top = own_time(raw, top=2)
    assert [(name, share) for name, _, share in top] == [
        ("parse (a/cri.py)", pytest.approx(40 / 60)),
        ("loop (a/b.py)", pytest.approx(20 / 60)),
    ]


def test_percentiles_are_nearest_rank() -> None:
    assert percentiles([float(n) for n in range(100, 0, -1)]) == {
        "p50_s": 50.0,
        "p99_s": 99.0,
        "max_s": 100.0,
    }
    assert percentiles([])["p99_s"] is None


def test_endpoint_parses_split_and_pipelined_requests() -> None:
    with EndpointProcess() as endpoint:
        host, port = endpoint.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            sock.sendall(b"\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answers = b""
            while chunk := sock.recv(65536):
                answers += chunk
    assert answers.count(b"HTTP/1.1 200 OK") == 2
    assert answers.count(b'"tagline"') == 2


def test_journal_smoke_run_delivers_every_entry_exactly_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    code = main(["--scenario", "journal", "--journal-entries", "3000", "--json", str(out)])
    assert code == 0
    journal = orjson.loads(out.read_bytes())["journal"]
    assert (journal["exactly_once"], journal["both_exactly_once"]) == (True, True)
    assert journal["both_records"] == 3000 + 3000 + 3000
    assert journal["entries_per_s"] > 0 and journal["both_peak_rss_mib"] > 0
    assert "| journal + containers + node file |" in capsys.readouterr().out


def test_many_file_scenarios_deliver_every_line_and_report_cpu(tmp_path: Path) -> None:
    """many-busy (20 files, then --files), many-idle and churn, tiny: every line arrives
    and the figures the issue asks for are there."""
    out = tmp_path / "report.json"
    common = ["--files", "40", "--json", str(out)]
    busy = ["--scenario", "many-busy", "--rate", "400", "--seconds", "1.5", *common]
    assert main(busy) == 0
    report = orjson.loads(out.read_bytes())
    for files in (20, 40):
        result = report[f"many-busy-{files}"]
        assert result["files"] == files and result["written"] >= 400
        assert result["delivered"] == result["written"]
        assert result["cpu_s_per_million"] > 0 and result["p99_s"] is not None
    assert main(["--scenario", "many-idle", "--idle-seconds", "1", *common]) == 0
    idle = orjson.loads(out.read_bytes())["many-idle"]
    assert idle["files"] == 40 and 0 <= idle["core_share"] < 1 and idle["rss_end_mib"] > 10
    assert main(["--scenario", "churn", "--churn", "10", "--seconds", "1.5", *common]) == 0
    churn = orjson.loads(out.read_bytes())["churn"]
    assert churn["pods"] >= 10 and churn["delivered"] == churn["written"]


def test_outage_smoke_run_holds_the_lines_then_delivers_each_once(tmp_path: Path) -> None:
    """The endpoint down while lines are written, then up: all arrive once, RSS sampled."""
    out = tmp_path / "report.json"
    options = ["--outage-mb", "1", "--outage-seconds", "1.5", "--json", str(out)]
    assert main(["--scenario", "outage", *options]) == 0
    outage = orjson.loads(out.read_bytes())["outage"]
    assert outage["written"] > 1000 and outage["docs"] == outage["distinct"] == outage["written"]
    assert outage["exactly_once"] is True
    assert 10 < outage["outage_peak_rss_mib"] <= outage["peak_rss_mib"] + 1
