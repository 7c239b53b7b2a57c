"""A fake Kubernetes API server: real HTTP/1.1 on 127.0.0.1, pods and namespaces.

It answers the way the real one does for what the agent uses: lists (`PodList`,
`NamespaceList`), chunked streaming watches of JSON lines with bookmarks, direct pod
GETs, `Status` errors (401, 404, 410 Gone, 503), `fieldSelector=spec.nodeName=`, and one
resourceVersion counter for everything (like etcd's revision). Tests drive it from their
own thread: add/update/delete objects, compact history, rotate the token, go down.

It can misbehave as a broken server or proxy would: store objects of any shape
(`put_pod` as is, `put_raw` for items without metadata or that are not objects),
send watch lines that are not JSON (`send_garbage`), and answer without end
(`endless`: a LIST body that never ends, or trickles a byte every 50 ms, a watch
that is one endless line, a direct GET that never ends).
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import json
import secrets
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

CREATED = "2024-05-01T12:00:00Z"


@dataclass(frozen=True)
class Request:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, str]
    status: int

    @property
    def is_watch(self) -> bool:
        return self.query.get("watch") in ("1", "true")


@dataclass
class _Event:
    rv: int
    resource: str  # "pods" | "namespaces"
    type: str
    obj: Any  # an object as stored; anything for a malformed one
    raw: bytes | None = None  # a line sent as is instead


ENDLESS_KINDS = frozenset({"list", "watch-line", "get", "trickle-list"})
_ENDLESS_CHUNK = b'{"kind":"PodList","items":[' + b"[1]," * 16384


def status_object(code: int, reason: str, message: str) -> dict[str, Any]:
    """A `Status` object as the API server returns it with errors."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def container_id() -> str:
    return "containerd://" + secrets.token_hex(32)


def _image_id(image: str) -> str:
    repo = image.rsplit(":", 1)[0]
    if "/" not in repo:
        repo = f"docker.io/library/{repo}"
    return f"{repo}@sha256:{secrets.token_hex(32)}"


def _container_status(name: str, image: str, *, init: bool) -> dict[str, Any]:
    cid = container_id()
    if init:
        state: dict[str, Any] = {
            "terminated": {
                "exitCode": 0,
                "reason": "Completed",
                "startedAt": CREATED,
                "finishedAt": CREATED,
                "containerID": cid,
            }
        }
    else:
        state = {"running": {"startedAt": CREATED}}
    return {
        "name": name,
        "state": state,
        "lastState": {},
        "ready": not init,
        "restartCount": 0,
        "image": image,
        "imageID": _image_id(image),
        "containerID": cid,
        "started": not init,
    }


def make_pod(
    name: str,
    namespace: str = "default",
    *,
    node: str = "node-a",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    containers: tuple[tuple[str, str], ...] = (("app", "nginx:1.27"),),
    init_containers: tuple[tuple[str, str], ...] = (),
    pod_ip: str = "10.244.1.17",
) -> dict[str, Any]:
    """A running pod object shaped like the API server's (resourceVersion set when stored)."""
    spec_containers = [
        {
            "name": c_name,
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "resources": {},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        }
        for c_name, image in containers
    ]
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": str(uuid.uuid4()),
            "resourceVersion": "0",
            "creationTimestamp": CREATED,
            "labels": dict(labels or {}),
            "annotations": dict(annotations or {}),
        },
        "spec": {
            "nodeName": node,
            "containers": spec_containers,
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "serviceAccountName": "default",
        },
        "status": {
            "phase": "Running",
            "hostIP": "172.18.0.2",
            "podIP": pod_ip,
            "podIPs": [{"ip": pod_ip}],
            "qosClass": "BestEffort",
            "startTime": CREATED,
            "containerStatuses": [
                _container_status(c_name, image, init=False) for c_name, image in containers
            ],
        },
    }
    if init_containers:
        pod["spec"]["initContainers"] = [
            {"name": c_name, "image": image} for c_name, image in init_containers
        ]
        pod["status"]["initContainerStatuses"] = [
            _container_status(c_name, image, init=True) for c_name, image in init_containers
        ]
    return pod


def _namespace(name: str, labels: dict[str, str] | None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "uid": str(uuid.uuid4()),
            "resourceVersion": "0",
            "creationTimestamp": CREATED,
            "labels": {"kubernetes.io/metadata.name": name, **(labels or {})},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


class FakeKubeApiServer:
    """The fake API server; use as a context manager, point the agent at `url`."""

    def __init__(
        self, *, token_file: str | Path | None = None, bookmark_interval: float = 0.5
    ) -> None:
        self.token_file = Path(token_file) if token_file is not None else None
        self.bookmark_interval = bookmark_interval
        self.requests: list[Request] = []
        self.bookmarks_sent = 0
        self._cond = threading.Condition()
        self._rv = 1000
        self._pods: dict[tuple[str, str], dict[str, Any]] = {}
        self._namespaces: dict[str, dict[str, Any]] = {}
        self._raw: dict[str, list[Any]] = {"pods": [], "namespaces": []}
        self._endless: frozenset[str] = frozenset()
        self.endless_served = 0  # endless answers begun
        self._events: list[_Event] = []
        self._compacted = 0  # watches from below this resourceVersion get 410 Gone
        self._close_epoch = 0  # bumped to end open watches normally
        self._gone_epoch = 0  # bumped to send ERROR 410 on open watches
        self._held = False
        self._down = False
        self._closed = False
        for name in ("default", "kube-system"):
            self.add_namespace(name)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def __enter__(self) -> FakeKubeApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # --- objects

    @property
    def resource_version(self) -> int:
        with self._cond:
            return self._rv

    def add_pod(self, name: str, namespace: str = "default", **kwargs: Any) -> dict[str, Any]:
        """Create a pod (`make_pod` arguments) and emit ADDED; returns a copy of it."""
        return self.put_pod(make_pod(name, namespace, **kwargs))

    def put_pod(self, pod: dict[str, Any]) -> dict[str, Any]:
        """Store a pod object as is (ADDED, or MODIFIED if it exists)."""
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        with self._cond:
            kind = "MODIFIED" if key in self._pods else "ADDED"
            self._pods[key] = pod
            return self._record("pods", kind, pod)

    def update_pod(
        self,
        namespace: str,
        name: str,
        mutate: Callable[[dict[str, Any]], None] | None = None,
        *,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Change a pod (new labels/annotations, or any `mutate`) and emit MODIFIED."""
        with self._cond:
            pod = self._pods[(namespace, name)]
            if labels is not None:
                pod["metadata"]["labels"] = dict(labels)
            if annotations is not None:
                pod["metadata"]["annotations"] = dict(annotations)
            if mutate is not None:
                mutate(pod)
            return self._record("pods", "MODIFIED", pod)

    def delete_pod(self, namespace: str, name: str) -> dict[str, Any]:
        with self._cond:
            pod = self._pods.pop((namespace, name))
            return self._record("pods", "DELETED", pod)

    def add_namespace(self, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
        with self._cond:
            ns = _namespace(name, labels)
            self._namespaces[name] = ns
            return self._record("namespaces", "ADDED", ns)

    def update_namespace(
        self,
        name: str,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        with self._cond:
            ns = self._namespaces[name]
            if labels is not None:
                ns["metadata"]["labels"] = {"kubernetes.io/metadata.name": name, **labels}
            if annotations is not None:
                ns["metadata"]["annotations"] = dict(annotations)
            return self._record("namespaces", "MODIFIED", ns)

    def _record(self, resource: str, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        snapshot = copy.deepcopy(obj)
        self._events.append(_Event(self._rv, resource, kind, snapshot))
        self._cond.notify_all()
        return copy.deepcopy(snapshot)

    def put_raw(self, resource: str, obj: Any) -> None:
        """Serve `obj` (any JSON value) among the items of every LIST, and as an ADDED event."""
        with self._cond:
            self._raw[resource].append(obj)
            self._rv += 1
            self._events.append(_Event(self._rv, resource, "ADDED", copy.deepcopy(obj)))
            self._cond.notify_all()

    def clear_raw(self) -> None:
        """Stop serving what `put_raw` added (LISTs are sane again)."""
        with self._cond:
            self._raw = {"pods": [], "namespaces": []}

    def send_garbage(self, resource: str, line: bytes) -> None:
        """Send `line` as is on the open watches of `resource` (and to later ones from before)."""
        with self._cond:
            self._rv += 1
            self._events.append(_Event(self._rv, resource, "", None, line.rstrip(b"\n") + b"\n"))
            self._cond.notify_all()

    # --- faults

    def endless(self, *kinds: str) -> None:
        """Answer these requests without end (`ENDLESS_KINDS`); none: answer normally again."""
        assert set(kinds) <= ENDLESS_KINDS, kinds
        with self._cond:
            self._endless = frozenset(kinds)
            self._cond.notify_all()

    def compact(self) -> None:
        """Forget history: watches from any resourceVersion before now get 410 Gone."""
        with self._cond:
            self._compacted = self._rv

    def inject_gone(self) -> None:
        """Compact, and send every open watch an ERROR event with a 410 Status (then end it)."""
        with self._cond:
            self._compacted = self._rv
            self._gone_epoch += 1
            self._cond.notify_all()

    def hold_watches(self, held: bool) -> None:
        """While held, open watches deliver no events (as if they lagged behind)."""
        with self._cond:
            self._held = held
            self._cond.notify_all()

    def close_watches(self) -> None:
        """End every open watch normally, as the server does after `timeoutSeconds`."""
        with self._cond:
            self._close_epoch += 1
            self._cond.notify_all()

    def set_down(self, down: bool) -> None:
        """Down: open watches are cut mid-stream and every request gets 503."""
        with self._cond:
            self._down = down
            self._cond.notify_all()

    # --- assertions

    def count(
        self, path: str | None = None, *, watch: bool | None = None, status: int | None = None
    ) -> int:
        """How many requests (for `path`, watches or not, answered `status`) were received."""
        with self._cond:
            return sum(
                1
                for r in self.requests
                if (path is None or r.path == path)
                and (watch is None or r.is_watch == watch)
                and (status is None or r.status == status)
            )

    # --- serving (handler threads)

    def _log(self, method: str, path: str, query: dict[str, str], status: int) -> None:
        with self._cond:
            self.requests.append(Request(method, path, query, status))

    def _current_token(self) -> str | None:
        if self.token_file is None:
            return None
        return self.token_file.read_text().strip()

    def _list(self, resource: str, query: dict[str, str]) -> dict[str, Any]:
        with self._cond:
            items = [copy.deepcopy(o) for o in self._objects(resource) if _selected(o, query)]
            items += copy.deepcopy(self._raw[resource])
            kind = "PodList" if resource == "pods" else "NamespaceList"
            return {
                "kind": kind,
                "apiVersion": "v1",
                "metadata": {"resourceVersion": str(self._rv)},
                "items": items,
            }

    def _objects(self, resource: str) -> list[dict[str, Any]]:
        return list(self._pods.values() if resource == "pods" else self._namespaces.values())

    def _watch_stream(self, resource: str, query: dict[str, str]) -> Iterator[bytes | None]:
        """Lines to send on a watch; None means: cut the connection (the server went down)."""
        deadline = time.monotonic() + float(query.get("timeoutSeconds", "1800"))
        bookmarks = query.get("allowWatchBookmarks") in ("1", "true")
        with self._cond:
            close_epoch, gone_epoch = self._close_epoch, self._gone_epoch
            start = int(query.get("resourceVersion") or 0)
            if start == 0:  # "any": the current state as synthetic ADDED events first
                initial = [
                    _line("ADDED", o) for o in self._objects(resource) if _selected(o, query)
                ]
                start = self._rv
            else:
                initial = []
            index = bisect.bisect_right([e.rv for e in self._events], start)
        yield from initial
        next_bookmark = time.monotonic() + self.bookmark_interval

        def news() -> bool:
            return (
                self._closed
                or self._down
                or (self._gone_epoch, self._close_epoch) != (gone_epoch, close_epoch)
                or (not self._held and len(self._events) > index)
            )

        while True:
            with self._cond:
                if not news():
                    self._cond.wait(max(0.0, min(deadline, next_bookmark) - time.monotonic()))
                lines: list[bytes | None] = []
                if self._closed or self._down:
                    lines.append(None)
                elif self._gone_epoch != gone_epoch:
                    message = f"too old resource version: {start} ({self._compacted})"
                    lines += [_line("ERROR", status_object(410, "Expired", message)), b""]
                elif self._close_epoch != close_epoch or time.monotonic() >= deadline:
                    lines.append(b"")
                elif not self._held:
                    for event in self._events[index:]:
                        if event.resource != resource:
                            pass
                        elif event.raw is not None:
                            lines.append(event.raw)
                        elif _selected(event.obj, query):
                            lines.append(_line(event.type, event.obj))
                        start = event.rv
                    index = len(self._events)
                    if bookmarks and time.monotonic() >= next_bookmark:
                        next_bookmark = time.monotonic() + self.bookmark_interval
                        lines.append(_bookmark(resource, self._rv))
                        self.bookmarks_sent += 1
            for line in lines:
                yield line
                if not line:
                    return


def _bookmark(resource: str, rv: int) -> bytes:
    kind = "Pod" if resource == "pods" else "Namespace"
    meta = {"resourceVersion": str(rv)}
    return _line("BOOKMARK", {"kind": kind, "apiVersion": "v1", "metadata": meta})


def _line(kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"


def _selected(obj: Any, query: dict[str, str]) -> bool:
    if not isinstance(obj, dict) or not isinstance(obj.get("spec"), dict | None):
        return True  # malformed: the fake cannot tell, so it sends it
    selector = query.get("fieldSelector", "")
    for term in filter(None, selector.split(",")):
        field, _, value = term.partition("=")
        if field == "spec.nodeName" and obj.get("spec", {}).get("nodeName") != value:
            return False
        if field == "metadata.name" and obj["metadata"]["name"] != value:
            return False
    return True


def _handler(fake: FakeKubeApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            path = unquote(url.path)
            query = dict(parse_qsl(url.query))
            status, body = self._route(path, query)
            if status == 0:
                return  # a watch or an endless answer was streamed
            fake._log("GET", path, query, status)
            self._send(status, body)

        def _route(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
            with fake._cond:
                down = fake._down
            if down:
                return 503, status_object(503, "ServiceUnavailable", "the server is down")
            token = fake._current_token()
            if token is not None and self.headers.get("Authorization") != f"Bearer {token}":
                return 401, status_object(401, "Unauthorized", "Unauthorized")
            parts = path.strip("/").split("/")
            if parts[:2] != ["api", "v1"]:
                return 404, status_object(404, "NotFound", "the server could not find it")
            rest = parts[2:]
            watch = query.get("watch") in ("1", "true")
            with fake._cond:
                endless = fake._endless
            if rest in (["pods"], ["namespaces"]):
                resource = rest[0]
                if watch and "watch-line" in endless:
                    return self._endless(path, query, b'{"type":"ADDED","object":{"x":"')
                if watch:
                    return self._watch(path, resource, query)
                if "list" in endless:
                    return self._endless(path, query, b"")
                if "trickle-list" in endless:
                    return self._endless(path, query, b"", trickle=True)
                return 200, fake._list(resource, query)
            if len(rest) == 4 and rest[0] == "namespaces" and rest[2] == "pods":
                if "get" in endless:
                    return self._endless(path, query, b"")
                with fake._cond:
                    pod = fake._pods.get((rest[1], rest[3]))
                    if pod is not None:
                        return 200, copy.deepcopy(pod)
                return 404, status_object(404, "NotFound", f'pods "{rest[3]}" not found')
            return 404, status_object(404, "NotFound", "the server could not find it")

        def _watch(
            self, path: str, resource: str, query: dict[str, str]
        ) -> tuple[int, dict[str, Any]]:
            rv = int(query.get("resourceVersion") or 0)
            with fake._cond:
                compacted = fake._compacted
            if 0 < rv < compacted:
                message = f"too old resource version: {rv} ({compacted})"
                return 410, status_object(410, "Expired", message)
            fake._log("GET", path, query, 200)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for line in fake._watch_stream(resource, query):
                    if line is None:
                        self.close_connection = True  # cut without the last chunk
                        return 0, {}
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            return 0, {}

        def _endless(
            self, path: str, query: dict[str, str], start: bytes, trickle: bool = False
        ) -> tuple[int, dict[str, Any]]:
            """A 200 answer whose body never ends (and has no newline), until the client goes."""
            fake._log("GET", path, query, 200)
            with fake._cond:
                fake.endless_served += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.close_connection = True
            try:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(start), start) if start else b"")
                chunk = b"%x\r\n%s\r\n" % (len(_ENDLESS_CHUNK), _ENDLESS_CHUNK)
                if trickle:
                    chunk = b"1\r\n \r\n"
                while not fake._closed:
                    self.wfile.write(chunk)
                    if trickle:
                        self.wfile.flush()
                        time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError, OSError):
                pass
            return 0, {}

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


async def eventually(
    predicate: Callable[[], bool | Awaitable[bool]], timeout: float = 5.0, what: str = ""
) -> None:
    """Poll `predicate` until true or fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.02)
