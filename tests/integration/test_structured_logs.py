"""Structured application logs end to end: JSON fields and whole stack traces, per pod."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.fakes.kube_apiserver import FakeKubeApiServer
from tests.integration.harness import (
    Agent,
    Container,
    cri_time,
    kube_env,
    once_to_file,
    read_documents,
    wait_for,
)
from tests.transforms.multiline.test_joiner import GO_PANIC, PYTHON_CHAINED, SPRING, SPRING_TRACE

_CLOCK = datetime(2024, 5, 1, 13, 0, tzinfo=UTC)


def append(c: Container, lines: list[tuple[str, str, str]]) -> None:
    """Append CRI lines `(stream, tag, text)`, tags `P` included, in one write."""
    data = b""
    for i, (stream, tag, text) in enumerate(lines):
        stamp = cri_time(_CLOCK + timedelta(milliseconds=len(c.written) + i))
        data += f"{stamp} {stream} {tag} {text}\n".encode()
    with open(c.path, "ab") as f:
        f.write(data)


def out_lines(lines: list[str], stream: str = "stdout") -> list[tuple[str, str, str]]:
    return [(stream, "F", text) for text in lines]


def test_json_fields_and_java_traces_for_every_pod(tmp_path: Path) -> None:
    root = tmp_path / "node"
    c = Container(root, "payments", "orders-7d9c", "app")
    nested = {"level": "error", "http": {"status": 503, "retries": [1, 2]}, "msg": "upstream"}
    header, frame = SPRING_TRACE[0], SPRING_TRACE[1]
    append(c, out_lines(["GET /orders/41 200", json.dumps(nested)]))
    append(c, [("stdout", "F", r'{"msg":"caf\u00e9 \ud83d\ude00","stream":"spoofed"}')])
    append(c, out_lines(["[1, 2]", '{"broken": ', "plain text"]))
    for i, line in enumerate(SPRING):  # the trace, interleaved with stderr lines
        append(c, [("stdout", "F", line), ("stderr", "F", f"worker {i} alive")])
    append(c, [("stderr", "P", header[:25]), ("stdout", "F", "GET /orders/43 200")])
    append(
        c, [("stderr", "F", header[25:]), ("stderr", "P", frame[:9]), ("stderr", "F", frame[9:])]
    )
    append(c, out_lines(["settled"], "stderr"))
    env = {"SHIPPER_MERGE_JSON": "true", "SHIPPER_MULTILINE": "java"}
    docs = once_to_file(root, tmp_path, env)
    by_log = {doc["log"]: doc for doc in docs}
    assert by_log[json.dumps(nested)]["json"] == nested
    unicode = by_log[r'{"msg":"caf\u00e9 \ud83d\ude00","stream":"spoofed"}']
    assert unicode["json"] == {"msg": "café 😀", "stream": "spoofed"}
    assert unicode["stream"] == "stdout"
    for plain in ("[1, 2]", '{"broken": ', "plain text", "GET /orders/41 200"):
        assert "json" not in by_log[plain]
    assert by_log["\n".join(SPRING)]["stream"] == "stdout"  # the log line with its trace
    assert by_log[f"{header}\n{frame}"]["stream"] == "stderr"
    assert Counter(doc["log"] for doc in docs) == Counter(
        [
            "GET /orders/41 200",
            json.dumps(nested),
            r'{"msg":"caf\u00e9 \ud83d\ude00","stream":"spoofed"}',
            "[1, 2]",
            '{"broken": ',
            "plain text",
            "\n".join(SPRING),
            *(f"worker {i} alive" for i in range(len(SPRING))),
            "GET /orders/43 200",
            f"{header}\n{frame}",
            "settled",
        ]
    )


def test_the_pod_annotations_choose_parsing_and_joining_per_pod(tmp_path: Path) -> None:
    root = tmp_path / "node"
    token = tmp_path / "token"
    token.write_text("secret")
    annotated = {"shipper.io/multiline": "python", "shipper.io/parser": "json"}
    with FakeKubeApiServer(token_file=token) as kube:
        pods = {
            "ledger": kube.add_pod("ledger", "payments", annotations=annotated),
            "gateway": kube.add_pod(
                "gateway", "payments", annotations={"shipper.io/multiline": "go"}
            ),
            "plain": kube.add_pod("plain", "payments"),
        }
        lines = ['{"event": "settle", "order": 42}', *PYTHON_CHAINED, *GO_PANIC, "bye"]
        for i, (name, pod) in enumerate(pods.items()):
            c = Container(
                root, "payments", name, "app", uid=pod["metadata"]["uid"], container_id=f"{i}" * 64
            )
            append(c, out_lines(lines))
        docs = once_to_file(root, tmp_path, kube_env(kube.url, token))
    logs = {name: [d["log"] for d in docs if d["kubernetes"]["pod_name"] == name] for name in pods}
    assert logs["ledger"] == [lines[0], "\n".join(PYTHON_CHAINED), *GO_PANIC, "bye"]
    assert logs["gateway"] == [lines[0], *PYTHON_CHAINED, "\n".join(GO_PANIC), "bye"]
    assert logs["plain"] == lines
    parsed = {d["kubernetes"]["pod_name"]: d.get("json") for d in docs if d["log"] == lines[0]}
    assert parsed == {"ledger": {"event": "settle", "order": 42}, "gateway": None, "plain": None}


def test_a_sigkill_in_the_middle_of_a_trace_neither_loses_nor_doubles_it(tmp_path: Path) -> None:
    root = tmp_path / "node"
    out, state = tmp_path / "out.ndjson", tmp_path / "state"
    c = Container(root, "payments", "ledger", "app")
    args = ["--path", str(root / "var/log/containers/*.log")]
    args += ["--state-dir", str(state), "--output", f"file:{out}"]
    env = {"SHIPPER_MULTILINE": "python"}
    agent = Agent(args, env).start().wait_ready()
    try:
        append(c, out_lines(["starting", "ready"]))
        trace_starts = c.path.stat().st_size
        wait_for(lambda: committed(state) == trace_starts, what="the first lines committed")
        # The application writes the first half of its trace slowly: the trace stays open
        # (never 1 s idle) while positions are saved (every second).
        for line in PYTHON_CHAINED[:9]:
            append(c, out_lines([line]))
            time.sleep(0.25)
        size = c.path.stat().st_size
        wait_for(lambda: read_bytes(agent) >= size, what="the first half of the trace read")
    finally:
        agent.kill()  # within the trace's 1 s idle wait: it is still open
    assert [d["log"] for d in read_documents(out)] == ["starting", "ready"]
    assert committed(state) == trace_starts  # the trace's first line: nothing of it is lost
    append(c, out_lines([*PYTHON_CHAINED[9:], "after"]))
    result = Agent(["--once", *args], env).run()
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    logs = [d["log"] for d in read_documents(out)]
    assert logs == ["starting", "ready", "\n".join(PYTHON_CHAINED), "after"]


def committed(state: Path) -> int | None:
    try:
        files = json.loads((state / "positions.json").read_text())["files"]
    except (FileNotFoundError, ValueError, KeyError):
        return None
    return files[0]["offset"] if files else None


def read_bytes(agent: Agent) -> float:
    found = re.search(r"^shipper_read_bytes_total (\S+)$", agent.get("/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0
