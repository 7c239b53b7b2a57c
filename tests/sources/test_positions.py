"""Positions: committed offsets only, atomic saves, restarts, inode reuse, corruption."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from shipper.sources.tail.identity import Fingerprint
from shipper.sources.tail.positions import PRUNE_AFTER, Position, Positions, UnknownFormat
from tests.sources.support import Kubelet, RecordingConsumer, TailFactory, append, lines, until


def entry(path: str, ino: int, seen: float, offset: int = 10) -> Position:
    return Position(1, ino, Fingerprint(3, "abcd"), "1:2:ff", offset, path, None, seen, offset)


def test_save_load_round_trip_and_prune(tmp_path: Path) -> None:
    store = Positions(str(tmp_path / "state" / "positions.json"))
    store.load()  # creates the state dir; no file yet
    now = time.time()
    store.add(entry("/a", 1, now))
    store.add(entry("/gone-long-ago", 2, now - PRUNE_AFTER - 1))
    store.add(entry("/gone-but-open", 3, now - PRUNE_AFTER - 1))
    store.write(store.snapshot(now, live={(1, 3)}))
    assert not store.dirty
    assert os.listdir(tmp_path / "state") == ["positions.json"]  # no temporary left
    again = Positions(store.path)
    again.load()
    assert sorted(p.path for p in again) == ["/a", "/gone-but-open"]
    assert [p for p in again if p.ino == 1] == [entry("/a", 1, now)]


def test_match_requires_the_same_first_bytes(tmp_path: Path) -> None:
    path = tmp_path / "f.log"
    path.write_bytes(b"hello\n")
    store = Positions(str(tmp_path / "positions.json"))
    st = os.stat(path)
    identity = (st.st_dev, st.st_ino)
    saved = store.add(Position.begin(identity, path.read_bytes(), str(path), None, 6, 0.0))
    assert store.match(identity, path.read_bytes()) is saved
    with open(path, "r+b") as fh:
        fh.write(b"J")  # same inode, other content
    assert store.match(identity, path.read_bytes()) is None


async def test_restart_resumes_at_the_committed_offset_only(tails: TailFactory) -> None:
    path = tails.logs / "app.log"
    path.write_bytes(lines("a", 0, 10))
    consumer = RecordingConsumer(hold=True)
    first = await tails.start(consumer)
    await until(lambda: consumer.fed(path) == lines("a", 0, 10))
    append(path, lines("a", 10, 10))
    await until(lambda: len(consumer.pending) == 2)
    consumer.ack(1)  # only the first read is acknowledged
    acked = len(lines("a", 0, 10))
    await until(lambda: first.saved_offset(path) == acked)
    await first.close()
    assert first.saved_offset(path) == acked  # never past what was acknowledged
    key = consumer.files[0].info.key

    second = await tails.start()
    await until(lambda: second.consumer.fed(path) == lines("a", 10, 10))
    [resumed] = second.consumer.opened(path)
    assert resumed.start == acked and resumed.info.key == key
    await until(lambda: second.saved_offset(path) == path.stat().st_size)


async def test_reused_inode_with_new_content_starts_at_zero(tails: TailFactory) -> None:
    old = tails.logs / "old.log"
    old.write_bytes(lines("old", 0, 100))
    first = await tails.start()
    await until(lambda: first.saved_offset(old) == old.stat().st_size)
    await first.close()
    old_ino = old.stat().st_ino
    old.unlink()
    new = tails.logs / "new.log"
    new.write_bytes(lines("new", 0, 200))
    if new.stat().st_ino != old_ino:  # the file system did not reuse it: make the db claim so
        doc = orjson.loads(Path(first.settings.positions_path).read_bytes())
        doc["files"][0]["ino"] = new.stat().st_ino
        Path(first.settings.positions_path).write_bytes(orjson.dumps(doc))

    second = await tails.start()
    await until(lambda: second.consumer.fed(new) == lines("new", 0, 200))
    [recorded] = second.consumer.opened(new)
    assert recorded.start == 0
    assert recorded.info.key != first.consumer.files[0].info.key


async def test_corrupt_positions_file_is_moved_aside(tails: TailFactory) -> None:
    path = tails.logs / "app.log"
    path.write_bytes(b"line\n")
    tails.state_dir.mkdir()
    (tails.state_dir / "positions.json").write_bytes(b'{"files": [{"dev": "x"')
    tail = await tails.start()
    await until(lambda: tail.consumer.fed(path) == b"line\n")
    aside = [p.name for p in tails.state_dir.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1
    await until(lambda: tail.saved_offset(path) == 5)


async def test_saved_offset_beyond_the_end_restarts_at_zero(tails: TailFactory) -> None:
    path = tails.logs / "app.log"
    path.write_bytes(lines("a", 0, 100))
    first = await tails.start()
    await until(lambda: first.saved_offset(path) == path.stat().st_size)
    await first.close()
    with open(path, "r+b") as fh:  # truncated while down; still the same first 1024 bytes
        fh.truncate(len(lines("a", 0, 30)))
    second = await tails.start()
    await until(lambda: second.consumer.fed(path) == lines("a", 0, 30))
    assert second.metric("shipper_truncations_total") == 1


async def test_file_rotated_while_down_is_drained_at_restart(
    tails: TailFactory, kubelet: Kubelet
) -> None:
    real, link = kubelet.container("default", "web")
    real.write_bytes(lines("A", 0, 10))
    paths = (str(kubelet.containers / "*.log"),)
    first = await tails.start(paths=paths)
    await until(lambda: first.saved_offset(real) == real.stat().st_size)
    await first.close()
    # while the agent is down: A grows and is rotated; B is written and rotated; C is new
    append(real, lines("A", 10, 5))
    a_rotated = kubelet.rotate(real, "20240501-120000")
    real.write_bytes(lines("B", 0, 5))
    os.rename(real, real.with_name("0.log.20240501-120001"))  # no gzip yet
    real.write_bytes(lines("C", 0, 5))

    second = await tails.start(paths=paths)
    await until(lambda: second.consumer.fed(a_rotated) == lines("A", 10, 5))
    await until(
        lambda: second.consumer.fed(real.with_name("0.log.20240501-120001")) == lines("B", 0, 5)
    )
    await until(lambda: second.consumer.fed(real) == lines("C", 0, 5))
    [resumed] = second.consumer.opened(a_rotated)
    assert resumed.start == len(lines("A", 0, 10))
    assert resumed.info.key == first.consumer.files[0].info.key  # same record ids as before
    assert {f.info.link for f in second.consumer.files} == {str(link)}
    await until(lambda: second.source.files_open == 1)


async def test_a_file_name_that_is_not_utf8_is_saved_and_resumed(tails: TailFactory) -> None:
    path = Path(os.fsdecode(bytes(tails.logs) + b"/bad-\xff\xfe.log"))
    path.write_bytes(lines("a", 0, 10))
    first = await tails.start()
    await until(lambda: first.consumer.fed(path) == lines("a", 0, 10))
    await until(lambda: first.saved_offset(path) == len(lines("a", 0, 10)))
    [saved] = first.saved()
    assert "path" not in saved and os.fsdecode(base64.b64decode(saved["path_b64"])) == str(path)
    await first.close()
    append(path, lines("a", 10, 5))
    second = await tails.start()
    await until(lambda: second.consumer.fed(path) == lines("a", 10, 5))  # resumed, not re-read


def test_a_positions_file_of_another_format_version_is_a_startup_error_naming_it(
    tmp_path: Path,
) -> None:
    state, logs = tmp_path / "state", tmp_path / "logs"
    state.mkdir()
    logs.mkdir()
    saved = orjson.dumps({"version": 2, "files": [{"dev": 1, "ino": 2}]})
    (state / "positions.json").write_bytes(saved)
    done = subprocess.run(
        [sys.executable, "-m", "shipper", "run", "--output", "stdout", "--once"],
        env={
            "PATH": os.environ.get("PATH", ""),
            "SHIPPER_STATE_DIR": str(state),
            "SHIPPER_PATHS": str(logs / "*.log"),
            "SHIPPER_KUBERNETES_ENABLED": "false",
        },
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert f"{state / 'positions.json'}: positions format version 2" in done.stderr
    assert "Traceback" not in done.stderr
    assert (state / "positions.json").read_bytes() == saved  # neither moved aside nor rewritten


def test_loading_a_positions_file_of_another_format_version_raises_naming_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "positions.json"
    path.write_bytes(orjson.dumps({"files": []}))  # no version: not a file this shipper wrote
    with pytest.raises(UnknownFormat, match=f"{path}: positions format version None"):
        Positions(str(path)).load()
    assert path.exists()
