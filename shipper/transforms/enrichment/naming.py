"""The Kubernetes names a container log file carries in its path.

Kubelet writes each container's log to
``<logs>/pods/<namespace>_<pod>_<pod uid>/<container>/<restart>.log`` (older kubelets:
``<logs>/pods/<pod uid>/<container>/<restart>.log``) and links it as
``<logs>/containers/<pod>_<namespace>_<container>-<64 hex container id>.log``.

The rules, on path components rather than on a fixed ``/var/log`` prefix, so that
sample trees under any root work the same as a node:

- A *pods path* is one whose fourth-last component is a directory named ``pods``:
  ``…/pods/<pod dir>/<container>/<file>``, where the file is ``<n>.log`` or a rotated
  ``<n>.log.<YYYYMMDD-hhmmss>`` (or its ``.gz`` copy). It gives the namespace, pod, uid
  and container, or only the uid and container in the old layout.
- A *link name* is a file name shaped like kubelet's link, in any directory. It gives
  the pod, namespace, container and container id. Kubelet cuts link names at 255
  bytes, keeping ``.log``: a cut name still gives the pod and namespace when they
  precede the cut, but never a container or a partial id.
- The pods path wins where both give a field; the id only ever comes from a link name.

Pod names are DNS subdomains (they may contain dots); namespaces and container names
are DNS labels. None of them contains ``_``, which makes it a safe separator. A name
that breaks these grammars is not guessed at: its fields stay None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = rf"{_LABEL}(?:\.{_LABEL})*"
_UID = r"[0-9a-f]+(?:-[0-9a-f]+)*"  # a UUID, or the 32-hex hash of a static pod

_POD_DIR = re.compile(rf"(?P<ns>{_LABEL})_(?P<pod>{_SUBDOMAIN})_(?P<uid>{_UID})")
_OLD_POD_DIR = re.compile(rf"(?P<uid>{_UID})")
_CONTAINER_DIR = re.compile(_LABEL)
_LOG_FILE = re.compile(r"[0-9]+\.log(?:\.[0-9]{8}-[0-9]{6}(?:\.gz)?)?")
_LINK_NAME = re.compile(
    rf"(?P<pod>{_SUBDOMAIN})_(?P<ns>{_LABEL})_(?P<container>{_LABEL})-(?P<id>[0-9a-f]{{64}})\.log"
)
_CUT_LINK_PREFIX = re.compile(rf"(?P<pod>{_SUBDOMAIN})_(?P<ns>{_LABEL})_")
_MAX_NAME_BYTES = 255


@dataclass(frozen=True, slots=True)
class FileNames:
    """The names one log file's path carries; None where the path does not say."""

    namespace_name: str | None = None
    pod_name: str | None = None
    pod_id: str | None = None
    container_name: str | None = None
    container_id: str | None = None


_NOTHING = FileNames()


def names_from_path(path: str, link: str | None) -> FileNames:
    """Names for the file at `path` (the real file), reached through `link` if any.

    Never raises: whatever cannot be parsed is None.
    """
    from_pods = _parse_pods_path(path)
    from_link = _parse_link_name(link) if link else _NOTHING
    if from_link == _NOTHING and from_pods == _NOTHING:
        from_link = _parse_link_name(path)
    return FileNames(
        namespace_name=from_pods.namespace_name or from_link.namespace_name,
        pod_name=from_pods.pod_name or from_link.pod_name,
        pod_id=from_pods.pod_id,
        container_name=from_pods.container_name or from_link.container_name,
        container_id=from_link.container_id,
    )


def _parse_pods_path(path: str) -> FileNames:
    """Names from `…/pods/<pod dir>/<container>/<file>`, new or old pod dir layout."""
    parts = PurePosixPath(path).parts
    if len(parts) < 4 or parts[-4] != "pods":
        return _NOTHING
    pod_dir, container, file_name = parts[-3:]
    if not _LOG_FILE.fullmatch(file_name) or not _CONTAINER_DIR.fullmatch(container):
        return _NOTHING
    if match := _POD_DIR.fullmatch(pod_dir):
        return FileNames(
            namespace_name=match["ns"],
            pod_name=match["pod"],
            pod_id=match["uid"],
            container_name=container,
        )
    if match := _OLD_POD_DIR.fullmatch(pod_dir):
        return FileNames(pod_id=match["uid"], container_name=container)
    return _NOTHING


def _parse_link_name(path: str) -> FileNames:
    """Names from a `<pod>_<namespace>_<container>-<id>.log` file name, possibly cut."""
    name = PurePosixPath(path).name
    if match := _LINK_NAME.fullmatch(name):
        return FileNames(
            namespace_name=match["ns"],
            pod_name=match["pod"],
            container_name=match["container"],
            container_id=match["id"],
        )
    # A cut name ends in a partial id (or container): only what precedes the cut is whole.
    # Kubelet's names are ASCII, so their length in characters is their length in bytes.
    if name.isascii() and len(name) == _MAX_NAME_BYTES and (match := _CUT_LINK_PREFIX.match(name)):
        return FileNames(namespace_name=match["ns"], pod_name=match["pod"])
    return _NOTHING
