"""`check-config --connect`: reach every Elasticsearch host and the Kubernetes API once.

One line per endpoint on stdout: `ok` or `FAILED`, and what was learnt or what to do.
The clients are the ones `run` builds, so credentials and TLS are tried exactly as `run`
would use them. Nothing is written to the cluster.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson

from shipper.settings import Settings
from shipper.sinks.elasticsearch.client import PROBE_TIMEOUT, build_client
from shipper.sinks.elasticsearch.data_stream import target_pattern
from shipper.transforms.kubernetes.client import KubeApiError, KubeClient


def check_connections(settings: Settings) -> bool:
    """Print one line per endpoint; True when every one answered as `run` needs."""
    return asyncio.run(_check_all(settings))


async def _check_all(settings: Settings) -> bool:
    results = []
    if settings.output.kind == "elasticsearch":
        client = build_client(settings)
        try:
            for host in settings.es_hosts:
                results.append(
                    _report(f"elasticsearch {host}", await _elasticsearch(client, host, settings))
                )
        finally:
            await client.aclose()
    if settings.kubernetes_enabled:
        results.append(_report(f"kubernetes {settings.kube_url}", await _kubernetes(settings)))
    if not results:
        print("nothing to connect to: output is not elasticsearch and Kubernetes metadata is off")
    return all(results)


def _report(what: str, outcome: tuple[bool, str]) -> bool:
    ok, text = outcome
    print(f"{what}: {'ok' if ok else 'FAILED'}: {text}")
    return ok


async def _elasticsearch(
    client: httpx.AsyncClient, host: str, settings: Settings
) -> tuple[bool, str]:
    base = host.rstrip("/")
    try:
        response = await client.get(f"{base}/", timeout=PROBE_TIMEOUT)
    except httpx.HTTPError as exc:
        return False, f"unreachable ({type(exc).__name__}: {exc})"
    if response.status_code == 401:
        return False, "credentials refused (401): check SHIPPER_ES_USER/_PASSWORD or _API_KEY"
    if response.status_code != 200:
        return False, f"GET / answered {response.status_code}: {_reason(response)}"
    info = _json(response)
    version = info.get("version")
    version = version if isinstance(version, dict) else {}
    number = version.get("number", "?")
    if version.get("distribution"):  # OpenSearch names itself here
        product = f"{version['distribution']} {number}"
    else:
        product = f"Elasticsearch {number} ({version.get('build_flavor', '?')} distribution)"
    parts = [f"{product}, cluster {info.get('cluster_name', '?')}"]
    index = target_pattern(settings).wildcard
    privilege = "create_doc" if settings.es_op_type == "create" else "index"
    may, text = await _privileges(client, base, settings, index, privilege)
    parts.append(text)
    if settings.es_template == "install":
        parts.append(await _template(client, base, settings.es_template_name))
    return may, "; ".join(parts)


async def _privileges(
    client: httpx.AsyncClient, base: str, settings: Settings, index: str, privilege: str
) -> tuple[bool, str]:
    """Whether these credentials may write `index` (and install the template when asked)."""
    if not (settings.es_api_key or settings.es_user):
        return True, "no credentials set (security off, or anonymous access): write not checked"
    body: dict[str, Any] = {"index": [{"names": [index], "privileges": [privilege]}]}
    if settings.es_template == "install":
        body["cluster"] = ["manage_index_templates"]
    try:
        response = await client.post(
            f"{base}/_security/user/_has_privileges", json=body, timeout=PROBE_TIMEOUT
        )
    except httpx.HTTPError as exc:
        return False, f"privileges not checked ({type(exc).__name__})"
    if response.status_code != 200:
        return True, f"privileges not checked (answer {response.status_code}: {_reason(response)})"
    answer = _json(response)
    missing = [
        f"{name} on {target}"
        for target, granted in (answer.get("index") or {}).items()
        for name, ok in granted.items()
        if not ok
    ] + [f"cluster {name}" for name, ok in (answer.get("cluster") or {}).items() if not ok]
    user = answer.get("username", "?")
    if answer.get("has_all_requested") is True:
        return True, f"user {user} may {privilege} into {index}"
    return False, f"user {user} lacks {', '.join(missing) or 'privileges'}: grant them to its role"


async def _template(client: httpx.AsyncClient, base: str, name: str) -> str:
    try:
        response = await client.get(f"{base}/_index_template/{name}", timeout=PROBE_TIMEOUT)
    except httpx.HTTPError as exc:
        return f"template {name} not checked ({type(exc).__name__})"
    if response.status_code == 200:
        return f"template {name} present"
    if response.status_code == 404:
        return f"template {name} absent: installed at start"
    return f"template {name} not checked (answer {response.status_code})"


async def _kubernetes(settings: Settings) -> tuple[bool, str]:
    client = KubeClient(settings, time.monotonic)
    node = settings.node_name
    params = {"fieldSelector": f"spec.nodeName={node}"} if node else {"limit": "1"}
    try:
        pods = await client.get_json("/api/v1/pods", params, deadline=PROBE_TIMEOUT)
    except KubeApiError as exc:
        hint = (
            ": check SHIPPER_KUBE_TOKEN_FILE and the RBAC rules" if exc.code in (401, 403) else ""
        )
        return False, f"listing pods failed ({exc}){hint}"
    except (httpx.HTTPError, ValueError) as exc:  # JSON errors and answers past their cap
        return False, f"unreachable ({type(exc).__name__}: {exc})"
    finally:
        await client.aclose()
    if not node:
        return True, "may list pods; NODE_NAME is not set, so the whole cluster would be watched"
    return True, f"{len(pods.get('items') or [])} pods on node {node}"


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        value = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _reason(response: httpx.Response) -> str:
    error = _json(response).get("error")
    if isinstance(error, dict):
        return str(error.get("reason") or error.get("type") or "")[:200]
    return str(error or response.text)[:200]
