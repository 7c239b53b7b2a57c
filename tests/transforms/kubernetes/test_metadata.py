"""PodMetadata built from API pod objects: labels, annotations, containers, fields."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from shipper.settings import Settings
from shipper.transforms.kubernetes.metadata import MalformedObject, pod_metadata
from tests.fakes.kube_apiserver import make_pod

SETTINGS = Settings()


def test_dotted_labels_are_de_dotted() -> None:
    pod = make_pod("web-1", labels={"app": "web", "app.kubernetes.io/name": "web"})
    meta = pod_metadata(pod, SETTINGS, None)
    assert meta.labels == {"app": "web", "app_kubernetes_io/name": "web"}


def test_de_dot_off_keeps_dots_and_separator_is_configurable() -> None:
    pod = make_pod("web-1", labels={"app.kubernetes.io/name": "web"})
    assert pod_metadata(pod, Settings(de_dot=False), None).labels == {
        "app.kubernetes.io/name": "web"
    }
    dashed = pod_metadata(pod, Settings(de_dot_separator="-"), None)
    assert dashed.labels == {"app-kubernetes-io/name": "web"}


def test_labels_off_and_annotations_only_when_asked() -> None:
    pod = make_pod("web-1", labels={"app": "web"}, annotations={"team.io/owner": "ops"})
    plain = pod_metadata(pod, Settings(kube_labels=False), None)
    assert plain.labels == {}
    assert plain.annotations is None
    with_annotations = pod_metadata(pod, Settings(kube_annotations=True), None)
    assert with_annotations.annotations == {"team_io/owner": "ops"}


def test_shipper_annotations_exclude_parser_multiline() -> None:
    annotations = {
        "shipper.io/exclude": "true",
        "shipper.io/parser": "json",
        "shipper.io/multiline": "Java",
    }
    meta = pod_metadata(make_pod("job-1", annotations=annotations), SETTINGS, None)
    assert meta.excluded is True
    assert meta.parser == "json"
    assert meta.multiline == "java"

    other = {"shipper.io/exclude": "false", "shipper.io/multiline": "cobol"}
    meta = pod_metadata(make_pod("job-2", annotations=other), SETTINGS, None)
    assert (meta.excluded, meta.parser, meta.multiline) == (False, None, None)


def test_container_matched_by_id_including_init_containers() -> None:
    pod = make_pod(
        "web-1",
        containers=(("app", "nginx:1.27"), ("sidecar", "envoy:1.30")),
        init_containers=(("migrate", "flyway:10"),),
    )
    meta = pod_metadata(pod, SETTINGS, None)
    init_status = pod["status"]["initContainerStatuses"][0]
    init_id = init_status["containerID"].removeprefix("containerd://")
    assert meta.container("migrate", init_id) == ("flyway:10", init_status["imageID"], init_id)

    sidecar = pod["status"]["containerStatuses"][1]
    sidecar_id = sidecar["containerID"].removeprefix("containerd://")
    # the id wins over a wrong name; without an id the name decides, and the id is filled in
    assert meta.container("app", sidecar_id)[0] == "envoy:1.30"
    assert meta.container("sidecar", None) == ("envoy:1.30", sidecar["imageID"], sidecar_id)
    assert meta.container("nope", None) == (None, None, None)


def test_restarted_container_old_id_found_in_last_state() -> None:
    pod = make_pod("web-1")
    status = pod["status"]["containerStatuses"][0]
    old_id = "a" * 64
    status["lastState"] = {"terminated": {"exitCode": 1, "containerID": f"containerd://{old_id}"}}
    status["restartCount"] = 1
    meta = pod_metadata(pod, SETTINGS, None)
    assert meta.container("app", old_id) == ("nginx:1.27", status["imageID"], old_id)


def test_pending_pod_takes_image_from_spec() -> None:
    pod = make_pod("web-1")
    del pod["status"]["containerStatuses"]
    meta = pod_metadata(pod, SETTINGS, None)
    assert meta.container("app", None) == ("nginx:1.27", None, None)


def test_kubernetes_fields_leave_out_empty_values() -> None:
    pod = make_pod("web-1", labels={"app": "web"}, pod_ip="10.1.2.3")
    meta = pod_metadata(pod, Settings(kube_namespace_labels=True), {"team": "a"})
    status = pod["status"]["containerStatuses"][0]
    cid = status["containerID"].removeprefix("containerd://")
    assert meta.kubernetes_fields("app", cid) == {
        "pod_id": pod["metadata"]["uid"],
        "host": "node-a",
        "pod_ip": "10.1.2.3",
        "labels": {"app": "web"},
        "namespace_labels": {"team": "a"},
        "container_image": "nginx:1.27",
        "container_image_id": status["imageID"],
    }
    bare = make_pod("web-2")
    del bare["status"]["podIP"]
    fields = pod_metadata(bare, SETTINGS, {"team": "a"}).kubernetes_fields("other", None)
    assert fields == {"pod_id": bare["metadata"]["uid"], "host": "node-a"}


def test_missing_optional_fields_do_not_raise() -> None:
    pod = {"metadata": {"name": "x", "namespace": "default", "uid": "u-1"}, "status": None}
    meta = pod_metadata(pod, SETTINGS, None)
    assert (meta.name, meta.uid, meta.host, meta.labels, meta.containers) == (
        "x",
        "u-1",
        None,
        {},
        (),
    )


def _break_status(pod: dict[str, Any]) -> None:
    pod["status"]["containerStatuses"][0]["lastState"] = {"terminated": "yesterday"}


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda pod: pod["metadata"].update(labels=["app", "web"]), "labels is a list"),
        (lambda pod: pod["metadata"].update(annotations="x"), "annotations is a string"),
        (lambda pod: pod["metadata"].update(labels={"app": 3}), "labels['app'] is a number"),
        (lambda pod: pod.pop("metadata"), "null as metadata"),
        (lambda pod: pod["metadata"].pop("uid"), "null as metadata.uid"),
        (lambda pod: pod["spec"].update(nodeName=7), "nodeName is a number"),
        (lambda pod: pod["status"].update(containerStatuses={}), "containerStatuses is an obj"),
        (lambda pod: pod["status"].update(containerStatuses=["app"]), "[0] is a string"),
        (lambda pod: pod["status"]["containerStatuses"][0].update(image=1), "image is a number"),
        (_break_status, "terminated is a string"),
        (lambda pod: pod["spec"]["containers"][0].update(name=None, image=[]), "image is a list"),
    ],
)
def test_a_field_of_the_wrong_shape_is_named(
    mutate: Callable[[dict[str, Any]], object], words: str
) -> None:
    pod = make_pod("web-1", "shop")
    mutate(pod)
    with pytest.raises(MalformedObject, match=re.escape(words)):
        pod_metadata(pod, SETTINGS, None)


def test_a_pod_that_is_not_an_object_is_named() -> None:
    with pytest.raises(MalformedObject, match="a pod in the answer is a list, not an object"):
        pod_metadata([], SETTINGS, None)
