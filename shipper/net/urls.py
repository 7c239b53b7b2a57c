"""Base URLs as the agent's endpoints take them."""

from __future__ import annotations


def api_base(url: str) -> str:
    """The Kubernetes API server's root URL; accepts Fluentd's `…/api` form
    (`FLUENT_FILTER_KUBERNETES_URL`) and a trailing `/`."""
    return url.rstrip("/").removesuffix("/api")
