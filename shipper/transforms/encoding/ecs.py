"""SHIPPER_SCHEMA=ecs: documents with Elastic Common Schema field names.

The same records and metadata as the default (fluentd-compatible) shape, named as the
ECS reference (elastic.co/guide/en/ecs/current) and Elastic's Kubernetes integration
name them, so Kibana's Logs UI and Elastic's dashboards find them:

    log                        -> message
    stream                     -> log.iostream
    (the file read)            -> log.file.path
    docker.container_id        -> container.id
    kubernetes.container_name  -> container.name (and kubernetes.container.name)
    kubernetes.container_image -> container.image.name
    kubernetes.container_image_id -> container.image.hash.all (its sha256:... digest)
    kubernetes.namespace_name  -> kubernetes.namespace
    kubernetes.pod_name / pod_id / pod_ip -> kubernetes.pod.name / .uid / .ip
    kubernetes.host            -> kubernetes.node.name and host.name
    kubernetes.labels / annotations / namespace_labels -> the same names
    log_truncated: true        -> tags: ["truncated"]
                                  ecs.version

Like the default encoder, everything per file is serialised once; per record only the
time, message and stream are formatted.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import add
from typing import Any

import orjson

from shipper.record import Documents, Pieces, Records, Ticket
from shipper.settings import Schema
from shipper.sources.tail.consumer import FileInfo
from shipper.transforms.encoding.document import DocumentEncoder, Prefixes

ECS_VERSION = "8.11.0"
# The `log` object opened per record is closed by the file's suffix (log.file.path).
# The time, the message and `,"log":{"iostream":"S"`, the suffix.
_OPEN, _MESSAGE = b'{"@timestamp":"', b'","message":'
_LOG = Prefixes(b',"log":{"iostream":"%s"')
_TRUNCATED = b',"tags":["truncated"]'


def ecs_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A file's `docker`/`kubernetes` fields (`file_fields` of
    shipper.transforms.encoding.document) in ECS names, `ecs.version` included."""
    docker = fields.get("docker") or {}
    kube = fields.get("kubernetes") or {}
    container: dict[str, Any] = {}
    if docker.get("container_id"):
        container["id"] = docker["container_id"]
    if kube.get("container_name"):
        container["name"] = kube["container_name"]
    image: dict[str, Any] = {}
    if kube.get("container_image"):
        image["name"] = kube["container_image"]
    digest = str(kube.get("container_image_id") or "").rpartition("@")[2]
    if digest.startswith("sha256:"):
        image["hash"] = {"all": [digest]}
    if image:
        container["image"] = image
    pod = _present(name=kube.get("pod_name"), uid=kube.get("pod_id"), ip=kube.get("pod_ip"))
    kubernetes = _present(
        namespace=kube.get("namespace_name"),
        pod=pod or None,
        node={"name": kube["host"]} if kube.get("host") else None,
        container={"name": kube["container_name"]} if kube.get("container_name") else None,
        labels=kube.get("labels"),
        annotations=kube.get("annotations"),
        namespace_labels=kube.get("namespace_labels"),
    )
    out: dict[str, Any] = {}
    if container:
        out["container"] = container
    if kubernetes:
        out["kubernetes"] = kubernetes
    if kube.get("host"):
        out["host"] = {"name": kube["host"]}
    out["ecs"] = {"version": ECS_VERSION}
    return out


def _present(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value}


class EcsDocumentEncoder(DocumentEncoder):
    """Encodes one file's records as ECS documents (see the module docstring)."""

    __slots__ = ("_path",)

    def __init__(
        self, file_key: str, container_id: str | None, fields: Mapping[str, Any], path: str
    ) -> None:
        self._path = path
        super().__init__(file_key, container_id, fields)

    def set_fields(self, fields: Mapping[str, Any]) -> None:
        """The per-file suffix: closes `log` with the file's path, then the ECS fields."""
        self.fields = fields  # index name placeholders keep the fluentd names
        rest = orjson.dumps(ecs_fields(fields))
        self._suffix = b',"file":{"path":%s}},%s' % (orjson.dumps(self._path), rest[1:])

    def encode(self, records: Records, ticket: Ticket) -> Documents:
        times, messages = self.columns(records, _TRUNCATED)
        # exact-size objects in place of orjson's (see `DocumentEncoder.encode`)
        fields = list(map(add, messages, map(_LOG.__getitem__, records.streams)))
        pieces = Pieces((_OPEN, times, _MESSAGE, fields, self._suffix + b"\n"))
        return Documents(pieces, times, records.offsets, self._id_prefix, self.fields, ticket)


def new_encoder(
    schema: Schema, file: FileInfo, container_id: str | None, fields: Mapping[str, Any]
) -> DocumentEncoder:
    """The encoder of a file's records in SHIPPER_SCHEMA's shape; `log.file.path` is the
    /var/log/containers path it was found through, as Filebeat reports it."""
    if schema == "ecs":
        return EcsDocumentEncoder(file.key, container_id, fields, file.link or file.path)
    return DocumentEncoder(file.key, container_id, fields)
