"""A real HTTP/1.1 server on 127.0.0.1 that answers like Elasticsearch, for delivery tests.

It keeps what arrived (documents per index, every request) and can be told to misbehave:
whole-request outages, per-item rejections, slowness, connection resets, mapping conflicts,
and answers spoiled on the way back as a broken proxy would (cut short, items missing, an
HTML page with 200, an endless or trickling body).
The agent under test may be another process or asyncio code in the test itself; the server
runs in its own threads. The JSON shapes it answers with, and where they were looked up, are
listed in tests/fakes/es_protocol.py.
"""

from __future__ import annotations

import base64
import collections
import fnmatch
import json
import random
import ssl
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from types import TracebackType
from typing import Any
from urllib.parse import unquote

import orjson

from tests.fakes.aws import AwsAccount
from tests.fakes.es_bulk import BulkRequestError, parse_bulk
from tests.fakes.es_cluster import Cluster
from tests.fakes.es_protocol import (
    WWW_AUTHENTICATE,
    JsonDict,
    auth_error,
    auto_id,
    cluster_info,
    error_body,
    opensearch_info,
    outage_error,
    rejected_item_error,
    simple_error,
)
from tests.fakes.es_server import Answer, Connection, RequestLog, Server

_JSON_TYPES = frozenset(
    {
        "application/json",
        "application/x-ndjson",
        "application/vnd.elasticsearch+json",
        "application/vnd.elasticsearch+x-ndjson",
    }
)
_BULK_PARAMS = frozenset(
    {
        "pipeline",
        "refresh",
        "routing",
        "timeout",
        "wait_for_active_shards",
        "require_alias",
        "require_data_stream",
        "list_executed_pipelines",
        "include_source_on_error",
        "_source",
        "_source_includes",
        "_source_excludes",
        "filter_path",
        "pretty",
        "human",
        "error_trace",
    }
)


class FakeElasticsearch:
    """An Elasticsearch stand-in: `with FakeElasticsearch() as es: ... es.url ... es.count()`."""

    def __init__(
        self,
        *,
        version: str = "8.15.0",
        distribution: str = "elasticsearch",
        username: str | None = None,
        password: str | None = None,
        api_key: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        index_privileges: dict[str, list[str]] | None = None,
        cluster_privileges: list[str] | None = None,
        aws: AwsAccount | None = None,
    ) -> None:
        """`index_privileges` (index pattern -> privileges) and `cluster_privileges` are the
        role of the one user (or API key); None for either means a superuser's `all`.
        `distribution="opensearch"` answers as OpenSearch `version` does (see es_protocol).
        `aws`: every request must be signed with SigV4 by one of the account's keys, as
        Amazon OpenSearch Service checks (403 and its message otherwise)."""
        self._aws = aws
        self.version = version
        self.distribution = distribution
        self.requests: list[RequestLog] = []
        self.bulk_items_total = 0
        self.item_statuses: collections.Counter[int] = collections.Counter()
        self.internal_errors: list[str] = []  # tracebacks of the fake's own bugs (answered 500)
        self._cluster = _cluster_for(distribution, version)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._username = username
        self._credentials = _accepted_credentials(username, password, api_key)
        self._ssl_context = ssl_context
        self._index_privileges = index_privileges
        self._cluster_privileges = cluster_privileges
        self._outage: int | None = None
        self._reject_fraction = 0.0
        self._reject_status = 429
        self._rng = random.Random(0)
        self._delay = 0.0
        self._resets = 0
        self._fault: tuple[str, str, int | None] | None = None  # (kind, path, times left)
        self._stopping = threading.Event()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL; a restart after stop() keeps the port (and everything stored)."""
        if not self._port:
            raise RuntimeError("FakeElasticsearch has no port before start()")
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self._port}"

    def start(self) -> FakeElasticsearch:
        if self._server is not None:
            raise RuntimeError("FakeElasticsearch is already running")
        self._stopping.clear()
        server = Server(("127.0.0.1", self._port), self, self._ssl_context)
        self._port = server.server_address[1]
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-elasticsearch-{self._port}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop listening and cut every open connection (idle keep-alive ones included)."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        self._stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        thread.join()

    def __enter__(self) -> FakeElasticsearch:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what arrived ----------------------------------------------------------------------------

    def documents(self, index: str | None = None) -> dict[str, JsonDict]:
        """_id -> _source of one index (or data stream), or of all of them merged."""
        with self._lock:
            if index is not None:
                found = self._cluster.indices.get(index)
                return dict(found.docs) if found is not None else {}
            merged: dict[str, JsonDict] = {}
            for each in self._cluster.indices.values():
                merged.update(each.docs)
            return merged

    def indices(self) -> list[str]:
        with self._lock:
            return sorted(self._cluster.indices)

    def count(self) -> int:
        """Documents stored in all indices."""
        with self._lock:
            return sum(len(each.docs) for each in self._cluster.indices.values())

    def wait_for(
        self, predicate: Callable[[FakeElasticsearch], bool], timeout: float = 10.0
    ) -> bool:
        """Block until `predicate(self)` holds (checked after every request); False on timeout.

        From asyncio code: `await asyncio.to_thread(es.wait_for, predicate, 5.0)`.
        """
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout)

    # -- faults ----------------------------------------------------------------------------------

    def set_outage(self, on: bool, status: int = 503) -> None:
        """Answer every request with `status` and an ES-shaped error (429: indexing pressure)."""
        with self._lock:
            self._outage = status if on else None

    def set_item_rejections(self, fraction: float, status: int = 429, seed: int = 0) -> None:
        """Refuse that fraction of bulk items (not stored); the same seed rejects the same items."""
        with self._lock:
            self._reject_fraction = fraction
            self._reject_status = status
            self._rng = random.Random(seed)

    def set_delay(self, seconds: float) -> None:
        """Every answer waits that long before it is sent."""
        with self._lock:
            self._delay = seconds

    def reset_connections(self, n: int) -> None:
        """The next n requests are read, then their connection is reset without an answer."""
        with self._lock:
            self._resets = n

    def spoil_answers(
        self, kind: str | None, times: int | None = None, path: str = "/_bulk"
    ) -> None:
        """Spoil the answers to the next `times` requests to `path` (all, if None) after they
        were executed, as a proxy gone wrong would: "cut" (the body cut in half, with a
        Content-Length to match), "closed" (the connection closed halfway through a body of
        the announced length), "fewer" (the last item left out), "html" (an HTML page
        with 200), "endless" (a chunked body that never ends), "trickle" (an endless body,
        one byte every 100 ms). `None` stops spoiling."""
        with self._lock:
            self._fault = None if kind is None else (kind, path, times)

    def delete_index(self, index: str) -> None:
        """Drop an index's documents and mapping, as an operator fixing a conflict would."""
        with self._lock:
            self._cluster.indices.pop(index, None)

    def put_mapping(self, index: str, field_path: str, kind: str) -> None:
        """Map `field_path` (dotted) as "object", "flattened" or a concrete type like "keyword"."""
        with self._lock:
            self._cluster.index(index).mapping.put(field_path, kind)

    # -- serving (handler threads) ---------------------------------------------------------------

    def serve(self, handler: Connection, request: RequestLog) -> None:
        """Answer one request on `handler`'s connection, applying the configured faults."""
        with self._lock:
            reset = self._resets > 0
            if reset:
                self._resets -= 1
            delay = self._delay
            fault = self._take_fault(request)
        if reset:
            self.record(request, 0)
            handler.abort()
            return
        if delay:
            self._stopping.wait(delay)
        try:
            answer = self._answer(request)
        except Exception:
            with self._lock:
                self.internal_errors.append(traceback.format_exc())
            answer = Answer(500, error_body("exception", "internal error of the fake", 500))
        self.record(request, answer.status)
        if fault is None or answer.status != 200:
            handler.reply(answer)
        elif fault in ("endless", "trickle"):
            handler.reply_endless(0.1 if fault == "trickle" else 0.0, self._stopping)
        elif fault == "closed":
            handler.reply_bytes(200, orjson.dumps(answer.body), cut_at=0.5)
        else:
            handler.reply_bytes(200, _spoiled(fault, orjson.dumps(answer.body)))

    def _take_fault(self, request: RequestLog) -> str | None:
        """The spoiling this request's answer gets, if any (under the lock)."""
        if self._fault is None or request.path != self._fault[1]:
            return None
        kind, path, times = self._fault
        if times is not None:
            self._fault = (kind, path, times - 1) if times > 1 else None
        return kind

    def record(self, request: RequestLog, status: int) -> None:
        """Log a request with the status it got, and wake wait_for()."""
        with self._changed:
            self.requests.append(replace(request, status=status))
            self._changed.notify_all()

    def _answer(self, request: RequestLog) -> Answer:
        with self._lock:
            outage = self._outage
        if outage is not None:
            return Answer(outage, outage_error(outage, len(request.body)))
        if self._aws is not None:
            refusal = self._aws.check(request)
            if refusal is not None:
                return Answer(403, {"message": refusal})
        authorization = request.headers.get("authorization")
        if self._credentials and authorization not in self._credentials:
            target = _target(request)
            challenge = [("WWW-Authenticate", value) for value in WWW_AUTHENTICATE]
            return Answer(401, auth_error(target, authorization, self._username), challenge)
        problem = _content_type_problem(request)
        if problem is not None:
            return Answer(406, simple_error(problem, 406))
        return self._route(request)

    def _route(self, request: RequestLog) -> Answer:
        parts = [unquote(part) for part in request.path.split("/") if part]
        method = request.method
        if not parts:
            return _only(request, ("GET", "HEAD"), lambda: Answer(200, self._info()))
        if parts[-1] == "_bulk" and len(parts) <= 2:
            index = parts[0] if len(parts) == 2 else None
            return _only(request, ("POST", "PUT"), lambda: self._bulk(request, index))
        if parts[0] == "_index_template" and len(parts) == 2 and method in ("PUT", "POST"):
            create = request.query.get("create") == "true"
            with self._lock:
                return Answer(*self._cluster.put_template(parts[1], request.body, create))
        if parts[0] == "_index_template" and len(parts) <= 2:
            pattern = parts[1] if len(parts) == 2 else "*"
            with self._lock:
                return _only(
                    request, ("GET", "HEAD"), lambda: Answer(*self._cluster.get_templates(pattern))
                )
        if parts == ["_security", "user", "_has_privileges"] and self._credentials:
            return _only(request, ("GET", "POST"), lambda: self._has_privileges(request))
        if len(parts) == 2 and parts[1] == "_rollover" and not parts[0].startswith("_"):
            with self._lock:
                return _only(request, ("POST",), lambda: Answer(*self._cluster.rollover(parts[0])))
        if len(parts) == 1 and not parts[0].startswith("_"):
            return _only(request, ("GET", "HEAD"), lambda: self._get_index(parts[0]))
        message = f"no handler found for uri [{_target(request)}] and method [{method}]"
        return Answer(400, simple_error(message, 400))

    def _info(self) -> JsonDict:
        if self.distribution == "opensearch":
            return opensearch_info(self.version, "fake-opensearch")
        return cluster_info(self.version, "fake-elasticsearch")

    def _bulk(self, request: RequestLog, default_index: str | None) -> Answer:
        unknown = sorted(set(request.query) - _BULK_PARAMS)
        if unknown:
            listed = ", ".join(f"[{name}]" for name in unknown)
            noun = "parameter" if len(unknown) == 1 else "parameters"
            reason = f"request [{request.path}] contains unrecognized {noun}: {listed}"
            return Answer(400, error_body("illegal_argument_exception", reason, 400))
        started = time.monotonic()
        try:
            operations = parse_bulk(request.body, default_index, self._cluster.major)
        except BulkRequestError as exc:
            return Answer(400, exc.body)
        items: list[JsonDict] = []
        errors = False
        with self._lock:
            for op in operations:
                if self._rng.random() < self._reject_fraction:
                    status = self._reject_status
                    error = rejected_item_error(status, op.index or "")
                    item = {"_index": op.index, "_id": op.doc_id or auto_id(), "error": error}
                else:
                    status, item = self._cluster.execute(op)
                errors = errors or "error" in item
                items.append({op.op_type: {**item, "status": status}})
                self.bulk_items_total += 1
                self.item_statuses[status] += 1
        took = int((time.monotonic() - started) * 1000)
        return Answer(200, {"took": took, "errors": errors, "items": items})

    def _has_privileges(self, request: RequestLog) -> Answer:
        """The has-privileges API (security on: only then is its handler registered)."""
        try:
            asked = json.loads(request.body or b"{}")
        except ValueError:
            return Answer(400, error_body("parse_exception", "request body is required", 400))
        index: dict[str, dict[str, bool]] = {}
        for entry in asked.get("index", []):
            for name in entry.get("names", []):
                granted = index.setdefault(name, {})
                for privilege in entry.get("privileges", []):
                    granted[privilege] = self._granted_on_index(name, privilege)
        cluster = {
            name: _implied(self._cluster_privileges, name, _CLUSTER_IMPLIED)
            for name in asked.get("cluster", [])
        }
        all_granted = all(ok for g in index.values() for ok in g.values()) and all(cluster.values())
        body = {
            "username": self._username or "_api_key",
            "has_all_requested": all_granted,
            "cluster": cluster,
            "index": index,
            "application": {},
        }
        return Answer(200, body)

    def _granted_on_index(self, name: str, privilege: str) -> bool:
        if self._index_privileges is None:
            return True
        return any(
            fnmatch.fnmatchcase(name, pattern) and _implied(held, privilege, _INDEX_IMPLIED)
            for pattern, held in self._index_privileges.items()
        )

    def _get_index(self, name: str) -> Answer:
        with self._lock:
            found = self._cluster.indices.get(name)
            if found is None:
                extra: dict[str, Any] = {"resource.type": "index_or_alias", "resource.id": name}
                body = error_body(
                    "index_not_found_exception",
                    f"no such index [{name}]",
                    404,
                    **extra,
                    index_uuid="_na_",
                    index=name,
                )
                return Answer(404, body)
            mappings = {"properties": found.mapping.as_properties()}
            settings = {"index": {"uuid": found.uuid, "provided_name": found.write_name}}
            return Answer(
                200, {found.write_name: {"aliases": {}, "mappings": mappings, "settings": settings}}
            )


def _cluster_for(distribution: str, version: str) -> Cluster:
    """The cluster state of that engine: OpenSearch answers in Elasticsearch 7.10's words,
    has `_type` in items only in 1.x, and knows `flat_object` (not `flattened`) from 2.7;
    backing indices are `.ds-<stream>-<generation>` there and before Elasticsearch 7.11."""
    numbers = tuple(int(part) for part in version.split(".")[:2])
    if distribution == "elasticsearch":
        return Cluster(numbers[0], dated_backing=numbers >= (7, 11))
    unknown = {"flattened", "match_only_text"}
    if numbers < (2, 7):
        unknown.add("flat_object")
    return Cluster(7, typed=numbers[0] < 2, unknown_types=frozenset(unknown), dated_backing=False)


# Which named privileges grant which others (elastic.co security-privileges.html).
_INDEX_IMPLIED = {
    "all": {"write", "index", "create", "create_doc", "create_index", "auto_configure", "read"},
    "write": {"index", "create", "create_doc", "delete", "update"},
    "index": {"create", "create_doc", "update"},
    "create": {"create_doc"},
}
_CLUSTER_IMPLIED = {
    "all": {"manage", "manage_index_templates", "monitor"},
    "manage": {"manage_index_templates", "monitor"},
}


def _implied(held: list[str] | None, wanted: str, implied: dict[str, set[str]]) -> bool:
    if held is None:
        return True
    return any(p == wanted or wanted in implied.get(p, set()) for p in held)


def _spoiled(kind: str, body: bytes) -> bytes:
    if kind == "cut":
        return body[: len(body) // 2]
    if kind == "fewer":
        answer = orjson.loads(body)
        answer["items"] = answer["items"][:-1]
        return orjson.dumps(answer)
    if kind == "html":
        return b"<html><body><h1>200 OK</h1>Request accepted by the gateway.</body></html>"
    raise ValueError(f"unknown spoiling {kind!r}")


def _only(request: RequestLog, allowed: tuple[str, ...], answer: Callable[[], Answer]) -> Answer:
    if request.method in allowed:
        return answer()
    listed = ", ".join(allowed)
    uri = f"uri [{_target(request)}] and method [{request.method}]"
    message = f"Incorrect HTTP method for {uri}, allowed: [{listed}]"
    return Answer(405, simple_error(message, 405), [("Allow", ",".join(allowed))])


def _content_type_problem(request: RequestLog) -> str | None:
    """Why the REST layer would refuse the body's Content-Type (406), if it would."""
    content_type = request.headers.get("content-type")
    if not request.body:
        return None
    if content_type is None:
        return "Content-Type header is missing"
    if content_type.split(";")[0].strip().lower() not in _JSON_TYPES:
        return f"Content-Type header [{content_type}] is not supported"
    return None


def _target(request: RequestLog) -> str:
    if not request.query:
        return request.path
    return request.path + "?" + "&".join(f"{k}={v}" for k, v in request.query.items())


def _accepted_credentials(
    username: str | None, password: str | None, api_key: str | None
) -> set[str]:
    """The Authorization header values that get in; empty when security is off."""
    accepted = set()
    if username is not None:
        token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
        accepted.add(f"Basic {token}")
    if api_key is not None:
        accepted.add(f"ApiKey {api_key}")
    return accepted
