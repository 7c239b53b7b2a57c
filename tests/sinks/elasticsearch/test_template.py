"""SHIPPER_ES_TEMPLATE=install: what is put, and when an existing template is left alone."""

import logging
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from shipper.settings import Settings
from shipper.sinks.elasticsearch.client import build_client
from shipper.sinks.elasticsearch.template import (
    MANAGED_BY,
    TemplateInstaller,
    content_digest,
    desired_template,
    plan,
)
from tests.fakes.elasticsearch import FakeElasticsearch
from tests.sinks.support import Acks, es_settings, eventually, running


def _stored(es: FakeElasticsearch, name: str = "shipper") -> dict[str, Any] | None:
    answer = httpx.get(f"{es.url}/_index_template/{name}")
    if answer.status_code == 404:
        return None
    return answer.json()["index_templates"][0]["index_template"]


def _puts(es: FakeElasticsearch) -> int:
    return sum(1 for r in es.requests if r.method == "PUT" and "_index_template" in r.path)


async def _install(settings: Settings) -> TemplateInstaller:
    installer = TemplateInstaller(settings)
    async with build_client(settings) as client:
        await installer.install(client, settings.es_hosts)
    return installer


def test_default_template_maps_labels_flattened_and_is_marked() -> None:
    body = desired_template(Settings(es_index="Logs-{kubernetes.namespace_name}-%Y.%m.%d"))
    assert body["index_patterns"] == ["logs-*"]
    properties = body["template"]["mappings"]["properties"]
    assert properties["@timestamp"] == {"type": "date_nanos"}
    assert properties["log"] == {"type": "text"} and properties["stream"] == {"type": "keyword"}
    kubernetes = properties["kubernetes"]["properties"]
    assert kubernetes["labels"] == kubernetes["annotations"] == {"type": "flattened"}
    assert kubernetes["namespace_name"] == kubernetes["pod_name"] == {"type": "keyword"}
    assert body["_meta"]["managed_by"] == MANAGED_BY
    assert body["_meta"]["digest"] == content_digest(body)


def test_template_file_is_used(tmp_path: Path) -> None:
    source = {"template": {"settings": {"number_of_shards": 1}}, "_meta": {"team": "ops"}}
    path = tmp_path / "template.json"
    path.write_bytes(orjson.dumps(source))
    body = desired_template(Settings(es_template_file=str(path)))
    assert body["index_patterns"] == ["logstash-*"]
    assert body["template"] == source["template"]
    assert body["_meta"]["team"] == "ops" and body["_meta"]["managed_by"] == MANAGED_BY


def test_plan() -> None:
    ours = desired_template(Settings())
    assert plan(None, ours, overwrite=False) == "create"
    as_stored = {**ours, "composed_of": []}  # Elasticsearch adds the empty list
    assert plan(as_stored, ours, overwrite=False) == "unchanged"
    older = desired_template(Settings(es_index="old-%Y"))
    assert plan(older, ours, overwrite=False) == "update"
    edited = {**older, "priority": 7}
    assert plan(edited, ours, overwrite=False) == "keep"
    foreign = {"index_patterns": ["logstash-*"], "template": {}}
    assert plan(foreign, ours, overwrite=False) == "keep"
    assert plan(foreign, ours, overwrite=True) == "overwrite"


async def test_install_then_dotted_labels_no_longer_conflict(tmp_path: Path) -> None:
    acks = Acks()
    app = acks.events(1, fields={"kubernetes": {"labels": {"app": "web"}}})
    named = acks.events(
        1, start=1, fields={"kubernetes": {"labels": {"app.kubernetes.io/name": "w"}}}
    )
    with FakeElasticsearch() as es:
        settings = es_settings(tmp_path, es.url, es_template="install")
        async with running(settings) as sink:
            await sink.send(app + named)
            assert await sink.drain(5)
        assert _stored(es)["template"] == desired_template(settings)["template"]
        assert es.count() == 2
    assert not (tmp_path / "dead-letter.ndjson").exists()


async def test_an_unchanged_template_is_not_put_again(tmp_path: Path) -> None:
    with FakeElasticsearch() as es:
        settings = es_settings(tmp_path, es.url, es_template="install")
        assert (await _install(settings)).settled
        assert (await _install(settings)).settled
        assert _puts(es) == 1


async def test_our_older_template_is_updated(tmp_path: Path) -> None:
    with FakeElasticsearch() as es:
        await _install(es_settings(tmp_path, es.url, es_template="install", es_index="old-%Y"))
        assert _stored(es)["index_patterns"] == ["old-*"]
        await _install(es_settings(tmp_path, es.url, es_template="install"))
        assert _stored(es)["index_patterns"] == ["logstash-*"]


@pytest.mark.parametrize("overwrite", [False, True])
async def test_a_changed_template_is_kept_unless_overwrite(
    tmp_path: Path, overwrite: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeElasticsearch() as es:
        settings = es_settings(
            tmp_path,
            es.url,
            es_template="install",
            es_template_name="mine",
            es_template_overwrite=overwrite,
        )
        await _install(settings)
        edited = {**_stored(es, "mine"), "priority": 300}  # someone tuned it
        assert httpx.put(f"{es.url}/_index_template/mine", json=edited).status_code == 200
        installer = await _install(settings)
        assert installer.settled
        priority = _stored(es, "mine")["priority"]
    if overwrite:
        assert priority != 300
    else:
        assert priority == 300
        assert any("SHIPPER_ES_TEMPLATE_OVERWRITE" in r.getMessage() for r in caplog.records)


async def test_installed_before_the_first_document_when_es_was_down_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="shipper.elasticsearch")
    acks = Acks()
    with FakeElasticsearch() as es:
        es.set_outage(True)
        settings = es_settings(tmp_path, es.url, es_template="install")
        async with running(settings) as sink:
            assert _puts(es) == 0  # the GET answered 503: nothing put yet
            es.set_outage(False)
            await sink.send(acks.events(5))
            assert await sink.drain(5)
        order = [(r.method, r.path, r.status) for r in es.requests if r.status == 200]
        put = order.index(("PUT", "/_index_template/shipper", 200))
        first_bulk = order.index(("POST", "/_bulk", 200))
        assert put < first_bulk
        assert es.count() == 5


async def test_a_bad_template_file_is_logged_never_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    acks = Acks()
    with FakeElasticsearch() as es:
        settings = es_settings(
            tmp_path, es.url, es_template="install", es_template_file=str(tmp_path / "no.json")
        )
        async with running(settings) as sink:
            await sink.send(acks.events(2))
            await eventually(lambda: es.count() == 2)
        assert _puts(es) == 0
    assert any(r.levelno == logging.ERROR and "no.json" in r.getMessage() for r in caplog.records)
