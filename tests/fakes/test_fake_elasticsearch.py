"""The fake Elasticsearch answers as the real one does: every delivery test trusts it."""

from __future__ import annotations

import gzip
import http.client
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.fakes.elasticsearch import FakeElasticsearch

NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.fixture
def es() -> Iterator[FakeElasticsearch]:
    with FakeElasticsearch() as fake:
        yield fake


@pytest.fixture
def client(es: FakeElasticsearch) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=es.url, timeout=5.0) as session:
        yield session


def ndjson(*lines: dict[str, Any]) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def bulk(client: httpx.Client, *lines: dict[str, Any], path: str = "/_bulk") -> httpx.Response:
    return client.post(path, content=ndjson(*lines), headers=NDJSON)


def create(index: str, doc_id: str | None, source: dict[str, Any]) -> list[dict[str, Any]]:
    meta = {"_index": index} if doc_id is None else {"_index": index, "_id": doc_id}
    return [{"create": meta}, source]


def port_of(es: FakeElasticsearch) -> int:
    return int(es.url.rsplit(":", 1)[1])


def only_item(response: httpx.Response) -> dict[str, Any]:
    (item,) = response.json()["items"]
    (answer,) = item.values()
    return answer


def test_root_answers_cluster_info(es: FakeElasticsearch, client: httpx.Client) -> None:
    response = client.get("/")
    info = response.json()
    assert response.status_code == 200
    assert response.headers["x-elastic-product"] == "Elasticsearch"
    assert info["version"]["number"] == "8.15.0"
    assert info["tagline"] == "You Know, for Search"
    assert {"name", "cluster_name", "cluster_uuid"} <= info.keys()


def test_bulk_create_index_conflict_and_auto_ids(
    es: FakeElasticsearch, client: httpx.Client
) -> None:
    first = bulk(
        client, *create("logs", "a", {"log": "one"}), *create("logs", None, {"log": "two"})
    )
    created, auto = (next(iter(item.values())) for item in first.json()["items"])
    assert first.json()["errors"] is False
    assert created == {
        "_index": "logs",
        "_id": "a",
        "_version": 1,
        "result": "created",
        "_shards": {"total": 2, "successful": 1, "failed": 0},
        "_seq_no": 0,
        "_primary_term": 1,
        "status": 201,
    }
    assert auto["status"] == 201 and len(auto["_id"]) == 20

    again = bulk(client, *create("logs", "a", {"log": "replayed"}))
    conflict = only_item(again)
    assert again.json()["errors"] is True
    assert conflict["status"] == 409
    assert conflict["error"]["type"] == "version_conflict_engine_exception"
    assert conflict["error"]["reason"] == (
        "[a]: version conflict, document already exists (current version [1])"
    )

    updated = only_item(bulk(client, {"index": {"_index": "logs", "_id": "a"}}, {"log": "new"}))
    assert (updated["status"], updated["result"], updated["_version"]) == (200, "updated", 2)
    assert es.documents("logs")["a"] == {"log": "new"}
    assert es.count() == 2 and es.indices() == ["logs"]
    assert es.bulk_items_total == 4
    assert es.item_statuses == {201: 2, 409: 1, 200: 1}


def test_index_from_path_and_op_type_create(es: FakeElasticsearch, client: httpx.Client) -> None:
    lines: list[dict[str, Any]] = [{"index": {"_id": "x", "op_type": "create"}}, {"n": 1}] * 2
    response = bulk(client, *lines, path="/from-path/_bulk")
    statuses = [item["create"]["status"] for item in response.json()["items"]]
    assert statuses == [201, 409]
    assert es.documents("from-path") == {"x": {"n": 1}}


def test_body_without_trailing_newline_is_refused(
    es: FakeElasticsearch, client: httpx.Client
) -> None:
    body = ndjson(*create("logs", "a", {"log": "x"})).rstrip(b"\n")
    response = client.post("/_bulk", content=body, headers=NDJSON)
    error = response.json()["error"]
    assert response.status_code == 400
    assert error["type"] == "illegal_argument_exception"
    assert error["reason"] == "The bulk request must be terminated by a newline [\\n]"
    assert error["root_cause"][0]["reason"] == error["reason"]
    assert es.count() == 0


@pytest.mark.parametrize(
    ("body", "kind", "reason"),
    [
        (
            b'{"upsert": {}}\n{}\n',
            "illegal_argument_exception",
            "Malformed action/metadata line [1], expected field [create], [delete], [index] "
            "or [update] but found [upsert]",
        ),
        (
            b'{"index": {}}\n{"a": 1}\n',
            "action_request_validation_exception",
            "Validation Failed: 1: index is missing;",
        ),
        (
            b'{"index": {"_index": "x", "_type": "_doc"}}\n{}\n',
            "illegal_argument_exception",
            "Action/metadata line [1] contains an unknown parameter [_type]",
        ),
        (b'{"index": \n{}\n', "x_content_parse_exception", None),
        (b"\n", "action_request_validation_exception", "Validation Failed: 1: no requests added;"),
    ],
)
def test_malformed_bulk_bodies_are_refused_whole(
    es: FakeElasticsearch, client: httpx.Client, body: bytes, kind: str, reason: str | None
) -> None:
    response = client.post("/_bulk", content=body, headers=NDJSON)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == kind
    if reason is not None:
        assert response.json()["error"]["reason"] == reason
    assert es.count() == 0


def test_gzip_and_chunked_bodies(es: FakeElasticsearch, client: httpx.Client) -> None:
    body = ndjson(*create("logs", "gz", {"log": "compressed"}))
    headers = {**NDJSON, "Content-Encoding": "gzip"}
    assert client.post("/_bulk", content=gzip.compress(body), headers=headers).status_code == 200
    chunks = iter(
        [ndjson(*create("logs", "c1", {"n": 1})), ndjson(*create("logs", "c2", {"n": 2}))]
    )
    chunked = client.post("/_bulk", content=chunks, headers=NDJSON)
    assert chunked.status_code == 200 and chunked.json()["errors"] is False
    assert es.requests[1].headers["transfer-encoding"] == "chunked"
    assert set(es.documents("logs")) == {"gz", "c1", "c2"}
    assert es.requests[0].body == body  # logged decompressed


def test_object_where_a_value_was_mapped(es: FakeElasticsearch, client: httpx.Client) -> None:
    bulk(client, *create("k8s", "1", {"kubernetes": {"labels": {"app": "web"}}}))
    response = bulk(
        client,
        *create("k8s", "2", {"kubernetes": {"labels": {"app": {"name": "web"}}}}),
        *create("k8s", "3", {"kubernetes": {"labels": {"app": "api"}}}),
    )
    refused, accepted = (next(iter(item.values())) for item in response.json()["items"])
    assert refused["status"] == 400 and accepted["status"] == 201
    assert refused["error"]["type"] == "document_parsing_exception"
    assert refused["error"]["reason"].endswith(
        "failed to parse field [kubernetes.labels.app] of type [text] in document with id '2'. "
        "Preview of field's value: '{name=web}'"
    )
    assert refused["error"]["reason"].startswith("[1:")
    assert refused["error"]["caused_by"]["type"] == "illegal_state_exception"
    assert set(es.documents("k8s")) == {"1", "3"}


def test_value_where_an_object_was_mapped_after_dotted_keys(
    es: FakeElasticsearch, client: httpx.Client
) -> None:
    bulk(client, *create("k8s", "1", {"kubernetes": {"labels": {"app.kubernetes.io/name": "web"}}}))
    refused = only_item(
        bulk(client, *create("k8s", "2", {"kubernetes": {"labels": {"app": "web"}}}))
    )
    assert refused["status"] == 400
    assert refused["error"]["reason"].endswith(
        "object mapping for [kubernetes.labels.app] tried to parse field [app] as object, "
        "but found a concrete value"
    )
    assert es.count() == 1


def test_dotted_key_under_a_value(es: FakeElasticsearch, client: httpx.Client) -> None:
    bulk(client, *create("k8s", "1", {"kubernetes": {"labels": {"app": "web"}}}))
    dotted = {"kubernetes": {"labels": {"app.kubernetes.io/name": "web"}}}
    refused = only_item(bulk(client, *create("k8s", "2", dotted)))
    assert refused["error"]["reason"].endswith(
        "failed to parse field [kubernetes.labels.app] of type [text] in document with id '2'. "
        "Preview of field's value: '{kubernetes={io/name=web}}'"
    )


def test_version_7_words_mapping_errors_its_own_way() -> None:
    with FakeElasticsearch(version="7.17.22") as es, httpx.Client(base_url=es.url) as client:
        assert client.get("/").json()["version"]["number"] == "7.17.22"
        first = only_item(bulk(client, *create("k8s", "1", {"labels": {"app": "web"}})))
        refused = only_item(
            bulk(client, *create("k8s", "2", {"labels": {"app.kubernetes.io/c": 1}}))
        )
    assert first["_type"] == "_doc"
    assert refused["error"] == {
        "type": "mapper_parsing_exception",
        "reason": "Could not dynamically add mapping for field [app.kubernetes.io/c]. "
        "Existing mapping for [labels.app] must be of type object but found [text].",
    }


def test_delete_index_and_put_mapping(es: FakeElasticsearch, client: httpx.Client) -> None:
    es.put_mapping("k8s", "kubernetes.labels", "object")
    refused = only_item(bulk(client, *create("k8s", "1", {"kubernetes": {"labels": "web"}})))
    assert refused["status"] == 400
    es.delete_index("k8s")
    assert es.indices() == []
    accepted = only_item(bulk(client, *create("k8s", "1", {"kubernetes": {"labels": "web"}})))
    assert accepted["status"] == 201


def test_flattened_template_fields_accept_any_shape(
    es: FakeElasticsearch, client: httpx.Client
) -> None:
    template = {
        "index_patterns": ["logstash-*"],
        "template": {"mappings": {"properties": {"kubernetes.labels": {"type": "flattened"}}}},
    }
    assert client.put("/_index_template/shipper", json=template).json() == {"acknowledged": True}
    response = bulk(
        client,
        *create("logstash-2024.05.01", "1", {"kubernetes": {"labels": {"app": "web"}}}),
        *create(
            "logstash-2024.05.01", "2", {"kubernetes": {"labels": {"app.kubernetes.io/n": "w"}}}
        ),
    )
    assert response.json()["errors"] is False
    mapping = client.get("/logstash-2024.05.01").json()["logstash-2024.05.01"]["mappings"]
    assert mapping["properties"]["kubernetes"]["properties"]["labels"] == {"type": "flattened"}


def test_item_rejections_follow_the_fraction_and_the_seed(client: httpx.Client) -> None:
    lines = [line for n in range(1000) for line in create("logs", str(n), {"n": n})]

    def rejected_ids(fake: FakeElasticsearch) -> list[str]:
        fake.set_item_rejections(0.3, seed=7)
        with httpx.Client(base_url=fake.url, timeout=10.0) as session:
            items = [item["create"] for item in bulk(session, *lines).json()["items"]]
        refused = [item for item in items if item["status"] == 429]
        assert all(i["error"]["type"] == "es_rejected_execution_exception" for i in refused)
        assert fake.count() == 1000 - len(refused)
        return [item["_id"] for item in refused]

    with FakeElasticsearch() as one, FakeElasticsearch() as two:
        first, second = rejected_ids(one), rejected_ids(two)
    assert 220 <= len(first) <= 380
    assert first == second


def test_outage_on_and_off(es: FakeElasticsearch, client: httpx.Client) -> None:
    es.set_outage(True)
    down = bulk(client, *create("logs", "a", {}))
    assert down.status_code == 503
    assert down.json()["error"]["type"] == "cluster_block_exception"
    assert down.json()["status"] == 503
    es.set_outage(True, status=429)
    pressure = client.get("/")
    assert pressure.status_code == 429
    assert pressure.json()["error"]["type"] == "es_rejected_execution_exception"
    es.set_outage(False)
    assert bulk(client, *create("logs", "a", {})).status_code == 200
    assert [r.status for r in es.requests] == [503, 429, 200]
    assert es.count() == 1


def test_delay_holds_every_answer(es: FakeElasticsearch, client: httpx.Client) -> None:
    es.set_delay(0.3)
    started = time.monotonic()
    assert client.get("/").status_code == 200
    assert time.monotonic() - started >= 0.3
    es.set_delay(0)


def test_reset_connections_answer_nothing(es: FakeElasticsearch, client: httpx.Client) -> None:
    es.reset_connections(1)
    with pytest.raises(httpx.TransportError):
        bulk(client, *create("logs", "a", {"log": "lost"}))
    assert bulk(client, *create("logs", "a", {"log": "kept"})).status_code == 200
    assert [r.status for r in es.requests] == [0, 200]
    assert es.requests[0].body.startswith(b'{"create"')
    assert es.documents("logs") == {"a": {"log": "kept"}}


def test_basic_auth() -> None:
    with FakeElasticsearch(username="elastic", password="s3cret") as es:
        with httpx.Client(base_url=es.url) as anonymous:
            missing = anonymous.get("/_bulk")
        with httpx.Client(base_url=es.url, auth=("elastic", "wrong")) as wrong:
            refused = wrong.get("/")
        with httpx.Client(base_url=es.url, auth=("elastic", "s3cret")) as right:
            allowed = right.get("/")
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "security_exception"
    assert missing.json()["error"]["reason"] == (
        "missing authentication credentials for REST request [/_bulk]"
    )
    assert 'Basic realm="security" charset="UTF-8"' in missing.headers.get_list("www-authenticate")
    assert refused.json()["error"]["reason"] == (
        "unable to authenticate user [elastic] for REST request [/]"
    )
    assert allowed.status_code == 200


def test_api_key_auth() -> None:
    with (
        FakeElasticsearch(api_key="a2V5OnNlY3JldA==") as es,
        httpx.Client(base_url=es.url) as session,
    ):
        refused = session.get("/", headers={"Authorization": "ApiKey bm9wZQ=="})
        allowed = session.get("/", headers={"Authorization": "ApiKey a2V5OnNlY3JldA=="})
    assert refused.status_code == 401 and allowed.status_code == 200


def test_index_templates(es: FakeElasticsearch, client: httpx.Client) -> None:
    template = {
        "index_patterns": ["logs-*"],
        "priority": 200,
        "template": {"settings": {"number_of_shards": 1}},
    }
    assert client.head("/_index_template/shipper").status_code == 404
    missing = client.get("/_index_template/shipper")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "resource_not_found_exception"
    assert missing.json()["error"]["reason"] == "index template matching [shipper] not found"

    assert client.put("/_index_template/shipper", json=template).status_code == 200
    assert client.head("/_index_template/shipper").status_code == 200
    stored = client.get("/_index_template/shipper").json()
    assert stored == {
        "index_templates": [
            {
                "name": "shipper",
                "index_template": {
                    "index_patterns": ["logs-*"],
                    "priority": 200,
                    "template": {"settings": {"index": {"number_of_shards": "1"}}},
                    "composed_of": [],
                },
            }
        ]
    }
    again = client.put("/_index_template/shipper?create=true", json=template)
    assert again.status_code == 400
    assert again.json()["error"]["reason"] == "index template [shipper] already exists"


def test_data_streams_need_create_and_a_timestamp(
    es: FakeElasticsearch, client: httpx.Client
) -> None:
    client.put("/_index_template/ds", json={"index_patterns": ["logs-*"], "data_stream": {}})
    response = bulk(
        client,
        {"index": {"_index": "logs-app"}},
        {"@timestamp": "2024-05-01T12:00:00Z"},
        *create("logs-app", None, {"log": "no time"}),
        *create("logs-app", None, {"@timestamp": "2024-05-01T12:00:00Z"}),
    )
    indexed, untimed, created = (next(iter(item.values())) for item in response.json()["items"])
    assert indexed["status"] == 400 and untimed["status"] == 400
    assert created["status"] == 201 and created["_index"].startswith(".ds-logs-app-")
    assert es.count() == 1


def test_invalid_index_names_are_refused_per_item(
    es: FakeElasticsearch, client: httpx.Client
) -> None:
    refused = only_item(bulk(client, *create("Logs-Default", "a", {})))
    assert refused["status"] == 400
    assert refused["error"]["type"] == "invalid_index_name_exception"
    assert refused["error"]["reason"] == "Invalid index name [Logs-Default], must be lowercase"


def test_rest_layer_errors(es: FakeElasticsearch, client: httpx.Client) -> None:
    text = client.post("/_bulk", content=b"{}\n", headers={"Content-Type": "text/plain"})
    assert text.status_code == 406
    assert text.json()["error"] == "Content-Type header [text/plain] is not supported"
    wrong_method = client.get("/_bulk")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == (
        "Incorrect HTTP method for uri [/_bulk] and method [GET], allowed: [POST, PUT]"
    )
    unknown = client.post("/_nope/x/y", json={})
    assert unknown.status_code == 400
    assert unknown.json()["error"] == "no handler found for uri [/_nope/x/y] and method [POST]"
    param = client.post("/_bulk?pipline=x", content=ndjson(*create("l", "a", {})), headers=NDJSON)
    assert param.json()["error"]["reason"] == (
        "request [/_bulk] contains unrecognized parameter: [pipline]"
    )
    assert client.get("/no-such-index").json()["error"]["type"] == "index_not_found_exception"
    assert es.internal_errors == []


def test_keep_alive_serves_two_requests_on_one_connection(es: FakeElasticsearch) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port_of(es), timeout=5)
    body = ndjson(*create("logs", "a", {"log": "x"}))
    connection.request("POST", "/_bulk", body=body, headers=NDJSON)
    first = connection.getresponse()
    first_payload = first.read()
    socket_after_first = connection.sock  # http.client drops it when the server closes
    connection.request("GET", "/")
    second = connection.getresponse()
    second.read()
    socket_after_second = connection.sock
    connection.close()
    assert first.status == 200 and second.status == 200
    assert int(first.headers["Content-Length"]) == len(first_payload)
    assert socket_after_first is not None and socket_after_second is socket_after_first
    assert [r.path for r in es.requests] == ["/_bulk", "/"]


def test_survives_garbage_and_clients_that_vanish(
    es: FakeElasticsearch, client: httpx.Client
) -> None:
    port = port_of(es)
    for junk in (
        b"\x00\xffnot http at all\r\n\r\n",
        b"POST /_bulk HTTP/1.1\r\nContent-Length: 50\r\n\r\n{",
    ):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(junk)
    broken_gzip = client.post(
        "/_bulk", content=b"not gzip", headers={**NDJSON, "Content-Encoding": "gzip"}
    )
    assert broken_gzip.status_code == 400
    assert client.get("/").status_code == 200
    assert es.internal_errors == []


def test_stop_cuts_connections_and_restart_keeps_port_and_data(es: FakeElasticsearch) -> None:
    url = es.url
    with httpx.Client(base_url=url, timeout=5.0) as session:
        bulk(session, *create("logs", "a", {}))
        es.stop()
        with pytest.raises(httpx.TransportError):
            session.get("/")
        es.start()
        assert es.url == url
        assert session.get("/").status_code == 200
    assert es.count() == 1


def test_wait_for_wakes_on_arrival(es: FakeElasticsearch) -> None:
    def send_later() -> None:
        with httpx.Client(base_url=es.url) as session:
            bulk(session, *create("logs", "a", {}))

    sender = threading.Thread(target=send_later)
    sender.start()
    assert es.wait_for(lambda fake: fake.count() == 1, timeout=5.0)
    sender.join()
    assert not es.wait_for(lambda fake: fake.count() == 2, timeout=0.05)


def test_tls(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with FakeElasticsearch(ssl_context=context) as es:
        assert es.url.startswith("https://127.0.0.1:")
        with httpx.Client(
            base_url=es.url, verify=ssl.create_default_context(cafile=str(cert))
        ) as session:
            assert session.get("/").json()["tagline"] == "You Know, for Search"


def test_mapping_limits(es: FakeElasticsearch, client: httpx.Client) -> None:
    wide = {f"field_{n}": "text and keyword" for n in range(501)}
    deep: dict[str, Any] = {"leaf": 1}
    for level in range(25):
        deep = {f"level{level}": deep}
    response = bulk(client, *create("logs", "wide", wide), *create("logs", "deep", deep))
    too_wide, too_deep = (next(iter(item.values())) for item in response.json()["items"])
    assert too_wide["error"]["caused_by"]["reason"] == (
        "Limit of total fields [1000] has been exceeded while adding new fields [1002]"
    )
    assert "Limit of mapping depth [20] has been exceeded" in too_deep["error"]["reason"]
    assert es.count() == 0
    assert client.get("/logs").json()["logs"]["mappings"]["properties"] == {}
