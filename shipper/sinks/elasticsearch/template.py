"""SHIPPER_ES_TEMPLATE=install: a composable index template for the index pattern.

Without it, the first document of the day's index decides its mapping: a label
`app` makes `kubernetes.labels.app` a keyword, and `app.kubernetes.io/name` is then
refused (peers.md §4 row 10). Ours maps labels and annotations as `flattened`.

A template someone changed is theirs: ours carries `_meta.managed_by: shipper` and
a digest of its content, so a template still as we put it is updated to this
version's, and one edited since (or not ours) is left alone unless
SHIPPER_ES_TEMPLATE_OVERWRITE is set. Failures are logged, never fatal; while
Elasticsearch cannot be reached the sink tries again before its next request, so
the template is in place before the first document creates an index.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from typing import Any, Literal
from urllib.parse import quote

import httpx
import orjson

from shipper import __version__
from shipper.settings import Settings
from shipper.sinks.elasticsearch.client import Unreachable, first_answer, probe_cluster
from shipper.sinks.elasticsearch.data_stream import target_pattern
from shipper.sinks.elasticsearch.distribution import Cluster, assumed
from shipper.sinks.elasticsearch.target_template import fit

log = logging.getLogger("shipper.elasticsearch")
DEFAULT_NAME = "shipper"
PRIORITY = 200  # above the built-in `logs-*-*` (100), so `logs-…` patterns get ours
MANAGED_BY = "shipper"

Plan = Literal["create", "unchanged", "update", "overwrite", "keep"]

_KEYWORD = {"type": "keyword"}
_FLATTENED = {"type": "flattened"}


def default_template(index_patterns: list[str]) -> dict[str, Any]:
    """Mappings for the document's shape (README "The document"); `@timestamp` keeps
    its nanoseconds."""
    kubernetes = {
        name: _KEYWORD
        for name in (
            "namespace_name",
            "pod_name",
            "container_name",
            "pod_id",
            "host",
            "container_image",
            "container_image_id",
        )
    }
    kubernetes.update(labels=_FLATTENED, annotations=_FLATTENED, namespace_labels=_FLATTENED)
    return {
        "index_patterns": index_patterns,
        "priority": PRIORITY,
        "template": {
            "mappings": {
                "properties": {
                    "@timestamp": {"type": "date_nanos"},
                    "log": {"type": "text"},
                    "stream": _KEYWORD,
                    "log_truncated": {"type": "boolean"},
                    "docker": {"properties": {"container_id": _KEYWORD}},
                    "kubernetes": {"properties": kubernetes},
                }
            }
        },
    }


def desired_template(settings: Settings, cluster: Cluster | None = None) -> dict[str, Any]:
    """The template to put: the file's (SHIPPER_ES_TEMPLATE_FILE) or ours fitted to
    `cluster` and the settings, marked as ours."""
    patterns = [target_pattern(settings).wildcard]
    if settings.es_template_file:
        with open(settings.es_template_file, "rb") as file:
            body = orjson.loads(file.read())
        if not isinstance(body, dict):
            raise ValueError(f"{settings.es_template_file}: a template is a JSON object")
        body.setdefault("index_patterns", patterns)
    else:
        body = fit(default_template(patterns), settings, cluster)
    meta = dict(body.get("_meta") or {})
    meta.update(managed_by=MANAGED_BY, version=__version__, digest=content_digest(body))
    body["_meta"] = meta
    return body


def content_digest(template: dict[str, Any]) -> str:
    """A digest of what a template does, ignoring `_meta` and what Elasticsearch adds."""
    content = {key: value for key, value in template.items() if key != "_meta"}
    if not content.get("composed_of"):
        content.pop("composed_of", None)
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def plan(existing: dict[str, Any] | None, desired: dict[str, Any], overwrite: bool) -> Plan:
    """What to do about the template found (`None`: there is none)."""
    if existing is None:
        return "create"
    if content_digest(existing) == content_digest(desired):
        return "unchanged"
    if overwrite:
        return "overwrite"
    meta = existing.get("_meta") or {}
    if meta.get("managed_by") == MANAGED_BY and meta.get("digest") == content_digest(existing):
        return "update"  # ours and untouched since we put it
    return "keep"


class TemplateInstaller:
    """Installs the template once; `settled` when Elasticsearch answered, whatever it said."""

    def __init__(self, settings: Settings) -> None:
        self.name = settings.es_template_name or DEFAULT_NAME
        self.settled = False
        self.cluster: Cluster | None = None  # what GET / said, once it answered
        self._settings = settings
        self._lock = asyncio.Lock()

    async def install(self, client: httpx.AsyncClient, hosts: Sequence[str]) -> None:
        """Try once (a no-op once settled); log the outcome."""
        async with self._lock:
            if self.settled:
                return
            cluster = self.cluster or await probe_cluster(client, hosts) or assumed(self._settings)
            try:
                desired = desired_template(self._settings, cluster)
            except (OSError, ValueError) as exc:
                log.error("index template %s not installed: %s", self.name, exc)
                self.settled = True
                return
            try:
                self.settled = await self._install(client, hosts, desired)
            except Unreachable as exc:
                log.warning("index template %s not installed yet: %s", self.name, exc)

    async def _install(
        self, client: httpx.AsyncClient, hosts: Sequence[str], desired: dict[str, Any]
    ) -> bool:
        path = f"/_index_template/{quote(self.name, safe='')}"
        found = await first_answer(client, hosts, "GET", path)
        if found.status_code == 404:
            existing = None
        elif found.status_code == 200:
            try:
                existing = _template_of(found.content)
            except ValueError:
                log.error("index template %s: unreadable answer %.200s", self.name, found.text)
                return True
        else:
            return self._failed("GET", found)
        action = plan(existing, desired, self._settings.es_template_overwrite)
        if action == "unchanged":
            log.info("index template %s is up to date", self.name)
            return True
        if action == "keep":
            log.warning(
                "index template %s exists and was changed by someone else: left as it is "
                "(set SHIPPER_ES_TEMPLATE_OVERWRITE=true to replace it)",
                self.name,
            )
            return True
        put = await first_answer(
            client,
            hosts,
            "PUT",
            path,
            content=orjson.dumps(desired),
            headers={"Content-Type": "application/json"},
        )
        if put.status_code >= 300:
            return self._failed("PUT", put)
        log.info("index template %s: %s for %s", self.name, action, desired["index_patterns"])
        return True

    def _failed(self, method: str, response: httpx.Response) -> bool:
        """Log a refusal; only an overloaded or failing cluster is worth asking again."""
        log.error(
            "index template %s: %s answered %s: %.300s",
            self.name,
            method,
            response.status_code,
            response.text,
        )
        return not (response.status_code == 429 or response.status_code >= 500)


def _template_of(content: bytes) -> dict[str, Any] | None:
    """The template in a `GET /_index_template/<name>` answer (None when the list is empty)."""
    try:
        templates = orjson.loads(content)["index_templates"]
        return dict(templates[0]["index_template"]) if templates else None
    except (orjson.JSONDecodeError, KeyError, TypeError, IndexError) as exc:
        raise ValueError("not an index template answer") from exc
