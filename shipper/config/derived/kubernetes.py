"""Whether the metadata is on, the API server's URL, labels: each from several variables."""

from __future__ import annotations

from shipper.config.addresses import bare_host, fluentd_kube_url, join_host_port, kube_url, port
from shipper.config.parsers import ON_OFF_ALIASES, boolean, choice
from shipper.config.reader import Reader
from shipper.settings import Settings

_DEFAULTS = Settings()
KUBE_URL_NAMES = ("SHIPPER_KUBE_URL", "FLUENT_FILTER_KUBERNETES_URL", "KUBERNETES_SERVICE_HOST")
SKIP_LABELS = "FLUENT_KUBERNETES_METADATA_SKIP_LABELS"
_Kubernetes = tuple[str, bool, str | None]  # mode, enabled, API server URL


def mode(r: Reader) -> str:
    return r.once("kubernetes", _kubernetes)[0]


def enabled(r: Reader) -> bool:
    return r.once("kubernetes", _kubernetes)[1]


def url(r: Reader) -> str | None:
    return r.once("kubernetes", _kubernetes)[2]


def _kubernetes(r: Reader) -> _Kubernetes:
    """`kubernetes`, `kubernetes_enabled`, `kube_url`: auto is on when an API server is known."""
    chosen: str = r.get(
        "SHIPPER_KUBERNETES",
        parse=choice("auto", "on", "off", aliases=ON_OFF_ALIASES),
        default=_DEFAULTS.kubernetes,
    )
    url_name, server = _api_server(r)
    if chosen == "on" and url_name is None:
        r.fail(
            "SHIPPER_KUBERNETES",
            r.value("SHIPPER_KUBERNETES"),
            "needs the API server: set SHIPPER_KUBE_URL (or KUBERNETES_SERVICE_HOST)",
        )
    is_on = chosen == "on" or (chosen == "auto" and url_name is not None)
    if chosen == "auto":
        known = f"the API server is known from {url_name}" if url_name else "no API server known"
        r.derived("SHIPPER_KUBERNETES (resolved)", f"auto, and {known}")
    else:
        r.derived("SHIPPER_KUBERNETES (resolved)", chosen)
    return chosen, is_on, server


def _api_server(r: Reader) -> tuple[str | None, str | None]:
    """The name the API server's URL came from, and the URL."""
    url_name = r.first(*KUBE_URL_NAMES)
    if url_name == "SHIPPER_KUBE_URL":
        server = r.get(url_name, parse=kube_url, default=None)
    elif url_name == "FLUENT_FILTER_KUBERNETES_URL":
        server = r.get(url_name, parse=fluentd_kube_url, default=None)
    elif url_name == "KUBERNETES_SERVICE_HOST":
        host = r.get(url_name, parse=bare_host, default="")
        number = r.get("KUBERNETES_SERVICE_PORT", parse=port, default=443)
        server = f"https://{join_host_port(host, number)}" if host else None
    else:
        server = None
    if url_name == "KUBERNETES_SERVICE_HOST":
        r.derived("SHIPPER_KUBE_URL", "KUBERNETES_SERVICE_HOST and _PORT")
    else:
        r.came_from("SHIPPER_KUBE_URL", url_name)
    return url_name, server


def labels(r: Reader) -> bool:
    """`SHIPPER_KUBE_LABELS`, else the inverse of the fluentd image's SKIP_LABELS."""
    if r.first("SHIPPER_KUBE_LABELS", SKIP_LABELS) == SKIP_LABELS:
        r.came_from("SHIPPER_KUBE_LABELS", SKIP_LABELS)
        return not r.get(SKIP_LABELS, parse=boolean, default=not _DEFAULTS.kube_labels)
    return r.get("SHIPPER_KUBE_LABELS", parse=boolean, default=_DEFAULTS.kube_labels)
