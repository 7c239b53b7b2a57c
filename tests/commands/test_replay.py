"""`replay_dead_letter` against a real HTTP server that answers like Elasticsearch."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from shipper.commands.replay import replay_dead_letter
from shipper.observe.metrics import Metrics
from shipper.record import Documents
from shipper.settings import Settings
from shipper.sinks.dead_letter import DeadLetterFile, decode_entry, encode_entry
from shipper.sinks.elasticsearch.bulk import Rejected
from tests.fakes.elasticsearch import FakeElasticsearch
from tests.sinks.support import Acks, closed_port_url, doc_id, es_settings, running

INDEX = "logstash-2024.05.01"
ERROR = {"type": "document_parsing_exception", "reason": "earlier"}


async def _ship(settings: Settings, blocks: list[Documents]) -> None:
    async with running(settings) as sink:
        await sink.send(blocks)
        assert await sink.drain(5)


def _write_entries(path: Path, *entries: Rejected, extra: bytes = b"") -> None:
    path.write_bytes(b"".join(encode_entry(e, "2024-05-01T12:00:00.000Z") for e in entries) + extra)


def test_replay_keeps_what_is_still_refused_then_empties_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    acks = Acks()
    good = acks.events(5)
    bad = acks.events(2, start=5, doc={"status": {"code": 1}})
    dead_letter = tmp_path / "dead-letter.ndjson"
    with FakeElasticsearch() as es:
        es.put_mapping(INDEX, "status", "keyword")
        settings = es_settings(tmp_path, es.url)
        asyncio.run(_ship(settings, good + bad))
        assert es.count() == 5 and len(dead_letter.read_bytes().splitlines()) == 2
        first_time = orjson.loads(dead_letter.read_bytes().splitlines()[0])["time"]

        assert replay_dead_letter(settings.sink, str(dead_letter)) == 1  # the cause is not fixed
        assert "replayed 0, still rejected 2, kept in" in capsys.readouterr().out
        kept = [orjson.loads(line) for line in dead_letter.read_bytes().splitlines()]
        assert [entry["id"] for entry in kept] == [doc_id(5), doc_id(6)]
        assert kept[0]["document"]["status"] == {"code": 1}
        assert kept[0]["error"]["type"] == "document_parsing_exception"
        assert kept[0]["time"] >= first_time

        es.delete_index(INDEX)  # the operator fixes the mapping
        assert replay_dead_letter(settings.sink, str(dead_letter)) == 0
        assert f"replayed 2, still rejected 0, kept in {dead_letter}" in capsys.readouterr().out
        assert dead_letter.read_bytes() == b""
        stored = es.documents(INDEX)
        assert sorted(stored) == [doc_id(5), doc_id(6)] and stored[doc_id(6)]["log"] == "line 6"
        bulk = [r for r in es.requests if r.path == "/_bulk"]
        action = b'{"create":{"_index":"logstash-2024.05.01","_id":"%s"}}' % doc_id(6).encode()
        assert action in bulk[-1].body


def test_documents_already_stored_count_as_replayed(tmp_path: Path) -> None:
    dead_letter = tmp_path / "dead-letter.ndjson"
    doc = b'{"log":"x"}'
    with FakeElasticsearch() as es:
        settings = es_settings(tmp_path, es.url)
        _write_entries(dead_letter, Rejected("logs-a", "same", 400, ERROR, doc))
        assert replay_dead_letter(settings.sink, str(dead_letter)) == 0
        _write_entries(
            dead_letter,
            Rejected("logs-a", "same", 400, ERROR, doc),
            Rejected("logs-a", None, 400, ERROR, doc),  # Elasticsearch had chosen the id
        )
        assert replay_dead_letter(settings.sink, str(dead_letter)) == 0
        assert es.item_statuses[409] == 1
        assert es.count() == 2 and "same" in es.documents("logs-a")


def test_each_document_goes_back_to_its_own_index(tmp_path: Path) -> None:
    """The index comes from each entry, whatever SHIPPER_ES_INDEX says now."""
    dead_letter = tmp_path / "dead-letter.ndjson"
    entries = [
        Rejected("logs-a", "1", 400, ERROR, b'{"n":1}'),
        Rejected("logs-b", "2", 400, ERROR, b'{"n":2}'),
        Rejected("logs-a", "3", 400, ERROR, b'{"n":3}'),
    ]
    _write_entries(dead_letter, *entries)
    with FakeElasticsearch() as es:
        settings = es_settings(tmp_path, es.url, es_index="elsewhere-%Y.%m")
        assert replay_dead_letter(settings.sink, str(dead_letter)) == 0
        assert sorted(es.documents("logs-a")) == ["1", "3"]
        assert sorted(es.documents("logs-b")) == ["2"]
        assert sorted(es.indices()) == ["logs-a", "logs-b"]


def test_unreadable_lines_stay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dead_letter = tmp_path / "dead-letter.ndjson"
    with FakeElasticsearch() as es:
        _write_entries(
            dead_letter, Rejected("logs-a", "1", 400, ERROR, b"{}"), extra=b"garbage\n\n"
        )
        assert replay_dead_letter(es_settings(tmp_path, es.url).sink, str(dead_letter)) == 1
        assert es.count() == 1
    assert dead_letter.read_bytes() == b"garbage\n"
    assert "replayed 1, still rejected 1" in capsys.readouterr().out


def test_unreachable_elasticsearch_keeps_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead_letter = tmp_path / "dead-letter.ndjson"
    entries = [Rejected("logs-a", str(n), 400, ERROR, b'{"n":%d}' % n) for n in range(3)]
    _write_entries(dead_letter, *entries)
    before = dead_letter.read_bytes()
    settings = es_settings(tmp_path, closed_port_url(), once_retry_timeout=0.3)
    assert replay_dead_letter(settings.sink, str(dead_letter)) == 3
    assert dead_letter.read_bytes() == before
    assert "not sent 3 (Elasticsearch unreachable)" in capsys.readouterr().out


def test_a_missing_file_is_nothing_to_do(tmp_path: Path) -> None:
    settings = es_settings(tmp_path, closed_port_url())
    assert replay_dead_letter(settings.sink, str(tmp_path / "none.ndjson")) == 0


_APPENDER = """
import asyncio, sys
from shipper.observe.metrics import Metrics
from shipper.sinks.elasticsearch.bulk import Rejected
from shipper.sinks.dead_letter import DeadLetterFile

async def main(path, count):
    dead_letter = DeadLetterFile(path, 1 << 30, Metrics())
    error = {"type": "mapper_parsing_exception", "reason": "earlier"}
    for n in range(count):
        doc = b'{"log":"appended %d"}' % n
        await dead_letter.write([Rejected("logs-a", f"appended-{n}", 400, error, doc)])

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def test_replays_lose_nothing_an_agent_appends_meanwhile(tmp_path: Path) -> None:
    """An appending process (the agent's dead-letter writer) and repeated replays on one
    real file: every entry ends up in Elasticsearch or still in the file."""
    dead_letter = tmp_path / "dead-letter.ndjson"
    count = 3000
    with FakeElasticsearch() as es:
        settings = es_settings(tmp_path, es.url, batch_max_records=500)
        appender = subprocess.Popen(
            [sys.executable, "-c", _APPENDER, str(dead_letter), str(count)],
            cwd=Path(__file__).resolve().parents[2],
        )
        try:
            replays = 0
            while appender.poll() is None or replays < 2:
                assert replay_dead_letter(settings.sink, str(dead_letter)) in (0, 1)
                replays += 1
            assert appender.wait(timeout=60) == 0
        finally:
            if appender.poll() is None:
                appender.kill()
        stored = set(es.documents("logs-a"))
        in_file = {orjson.loads(line)["id"] for line in dead_letter.read_bytes().splitlines()}
        expected = {f"appended-{n}" for n in range(count)}
        assert not expected - stored - in_file, f"lost over {replays} replays"
        assert replay_dead_letter(settings.sink, str(dead_letter)) == 0
        assert set(es.documents("logs-a")) == expected
    assert dead_letter.read_bytes() == b""
    assert replays >= 3  # the replays did overlap the appends


async def _append(path: Path, *entries: Rejected) -> None:
    await DeadLetterFile(str(path), 1 << 30, Metrics()).write(entries)


def test_an_entry_cut_short_hides_nothing_an_agent_appends_during_a_replay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The file ends in part of an entry (its writer was killed mid-write). A replay (the
    real command, in its own process) reads it; while its request is on the way, the agent
    appends. The replay must read whole lines only and the agent cut the torn part under
    the lock, or the appended entry is glued to it or loses its first bytes."""
    dead_letter = tmp_path / "dead-letter.ndjson"
    torn = encode_entry(Rejected("logs-a", "torn", 400, ERROR, b'{"n":0}'), "2024-05-01T12:00:00Z")
    _write_entries(dead_letter, Rejected("logs-a", "1", 400, ERROR, b'{"n":1}'), extra=torn[:40])
    late = Rejected("logs-a", "late", 400, ERROR, b'{"n":2}')
    with FakeElasticsearch() as es:
        es.set_delay(1.0)  # time to append between the replay's read and its rewrite
        replay = subprocess.Popen(
            [sys.executable, "-m", "shipper", "replay-dead-letter", str(dead_letter)],
            env={"PATH": os.environ.get("PATH", ""), "SHIPPER_ES_HOSTS": es.url},
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            es.wait_for(lambda es: len(es.requests) >= 1, timeout=20)  # GET /: file read
            asyncio.run(_append(dead_letter, late))
            assert not any(r.path == "/_bulk" for r in es.requests), "appended too late"
            out, err = replay.communicate(timeout=20)
        finally:
            replay.kill()
        assert replay.returncode == 0, out + err
        assert "replayed 1, still rejected 0" in out
        assert sorted(es.documents("logs-a")) == ["1"]
    assert "ended in 40 bytes of an entry cut short" in caplog.text  # the agent cut them
    lines = dead_letter.read_bytes().split(b"\n")
    assert lines[-1] == b"" and [decode_entry(line).id for line in lines[:-1]] == ["late"]


def test_a_last_entry_missing_only_its_newline_is_replayed_and_appended_after(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A copy edited by hand may end without a newline: its last entry is whole, so it is
    replayed, and an append to such a file starts on a line of its own."""
    copy = tmp_path / "copy.ndjson"
    entries = [Rejected("logs-a", str(n), 400, ERROR, b'{"n":%d}' % n) for n in range(2)]
    _write_entries(copy, *entries)
    copy.write_bytes(copy.read_bytes().rstrip(b"\n"))
    with FakeElasticsearch() as es:
        assert replay_dead_letter(es_settings(tmp_path, es.url).sink, str(copy)) == 0
        assert sorted(es.documents("logs-a")) == ["0", "1"]
    assert copy.read_bytes() == b""

    _write_entries(copy, *entries)
    copy.write_bytes(copy.read_bytes().rstrip(b"\n"))
    asyncio.run(_append(copy, Rejected("logs-a", "2", 400, ERROR, b'{"n":2}')))
    assert [decode_entry(line).id for line in copy.read_bytes().splitlines()] == ["0", "1", "2"]
    assert "cut short" not in caplog.text
