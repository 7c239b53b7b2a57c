"""Which search engine answers: Elasticsearch or OpenSearch, and its version, from `GET /`.

OpenSearch says `version.distribution: "opensearch"` in its root answer; Elasticsearch
has no such field (it says `build_flavor`). SHIPPER_OUTPUT=opensearch, or an Amazon
OpenSearch Serverless collection (SHIPPER_ES_AWS_SERVICE=aoss, which has no `GET /`),
stand for the answer while none came. What differs between the two is only the index
template (see `shipper.sinks.elasticsearch.target_template`); delivery is the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from shipper.settings import Settings

log = logging.getLogger("shipper.elasticsearch")
Distribution = Literal["elasticsearch", "opensearch"]
FLAT_OBJECT_SINCE = (2, 7)  # OpenSearch's `flat_object` field type


@dataclass(frozen=True, slots=True)
class Cluster:
    """The engine behind SHIPPER_ES_HOSTS: distribution and version (0.0 when unknown)."""

    distribution: Distribution
    version: tuple[int, int] = (0, 0)
    number: str = "unknown"

    @property
    def flat_object(self) -> bool:
        """OpenSearch 2.7+ maps any object under one field without a mapping per key."""
        return self.distribution == "opensearch" and self.version >= FLAT_OBJECT_SINCE

    def __str__(self) -> str:
        name = "OpenSearch" if self.distribution == "opensearch" else "Elasticsearch"
        return f"{name} {self.number}"


def cluster_of(info: Any) -> Cluster:
    """The cluster a `GET /` answer describes; ValueError when it is not such an answer."""
    try:
        version = info["version"]
        number = str(version["number"])
        named = version.get("distribution") or "elasticsearch"
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError("not a root endpoint answer") from exc
    distribution: Distribution
    if named == "opensearch":
        distribution = "opensearch"
    elif named == "elasticsearch":
        distribution = "elasticsearch"
    else:
        raise ValueError(f"unknown distribution {named!r}")
    major, _, rest = number.partition(".")
    minor = rest.partition(".")[0]
    try:
        parsed = (int(major), int(minor or 0))
    except ValueError as exc:
        raise ValueError(f"unreadable version {number!r}") from exc
    return Cluster(distribution, parsed, number)


def assumed(settings: Settings) -> Cluster | None:
    """The cluster the settings imply while `GET /` has not told (None: Elasticsearch)."""
    if settings.output.distribution == "opensearch" or (
        settings.es_aws_region and settings.es_aws_service == "aoss"
    ):
        return Cluster("opensearch")
    return None


def reconcile(settings: Settings, found: Cluster | None) -> Cluster | None:
    """What `GET /` found wins over what the settings say; a mismatch is worth a warning."""
    said = settings.output.distribution
    if found is not None and said is not None and found.distribution != said:
        log.warning(
            "SHIPPER_OUTPUT=%s, but the cluster says it is %s: going by the cluster", said, found
        )
    return found or assumed(settings)
