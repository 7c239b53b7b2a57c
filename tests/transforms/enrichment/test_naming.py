from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shipper.transforms.enrichment.naming import FileNames, names_from_path

CID = "3f1e2d4c5b6a79880123456789abcdef0123456789abcdef0123456789abcdef"
UID = "5c2a7e1e-9f3b-4d8a-b7c6-1a2b3c4d5e6f"
PODS = f"/var/log/pods/default_web-7d9c5b6f4-x2kqp_{UID}/nginx/0.log"
LINK = f"/var/log/containers/web-7d9c5b6f4-x2kqp_default_nginx-{CID}.log"
WEB = FileNames("default", "web-7d9c5b6f4-x2kqp", UID, "nginx", CID)


def test_pods_path_with_link_gives_every_field() -> None:
    assert names_from_path(PODS, LINK) == WEB


def test_pods_path_without_link_has_no_container_id() -> None:
    assert names_from_path(PODS, None) == FileNames("default", "web-7d9c5b6f4-x2kqp", UID, "nginx")


def test_link_only_parses_everything_but_the_uid() -> None:
    expected = FileNames("default", "web-7d9c5b6f4-x2kqp", None, "nginx", CID)
    assert names_from_path(LINK, None) == expected
    assert names_from_path(LINK, LINK) == expected


def test_any_root_works() -> None:
    pods = f"/home/me/shipper/examples/var/log/pods/default_web-7d9c5b6f4-x2kqp_{UID}/nginx/0.log"
    link = f"relative/containers/web-7d9c5b6f4-x2kqp_default_nginx-{CID}.log"
    assert names_from_path(pods, link) == WEB
    assert (
        names_from_path(f"pods/default_web-7d9c5b6f4-x2kqp_{UID}/nginx/0.log", None).pod_id == UID
    )


def test_pods_path_wins_over_the_link() -> None:
    stale_link = f"/var/log/containers/other_kube-system_sidecar-{CID}.log"
    names = names_from_path(PODS, stale_link)
    assert (names.namespace_name, names.pod_name, names.container_name) == (
        "default",
        "web-7d9c5b6f4-x2kqp",
        "nginx",
    )
    assert names.container_id == CID


def test_dotted_pod_name_and_dashed_container() -> None:
    pods = f"/var/log/pods/payments_ledger.v2-6c9d8f7b5-mn4pt_{UID}/ledger-db-migrate/3.log"
    link = f"/var/log/containers/ledger.v2-6c9d8f7b5-mn4pt_payments_ledger-db-migrate-{CID}.log"
    expected = FileNames("payments", "ledger.v2-6c9d8f7b5-mn4pt", UID, "ledger-db-migrate", CID)
    assert names_from_path(pods, link) == expected
    assert names_from_path(link, None) == FileNames(
        "payments", "ledger.v2-6c9d8f7b5-mn4pt", None, "ledger-db-migrate", CID
    )


def test_container_name_ending_in_hex_is_split_at_the_id() -> None:
    link = f"/var/log/containers/web_default_cache-deadbeef-{CID}.log"
    assert names_from_path(link, None).container_name == "cache-deadbeef"


@pytest.mark.parametrize(
    "file_name", ["0.log", "12.log", "0.log.20240501-120000", "0.log.20240501-120000.gz"]
)
def test_current_and_rotated_file_names(file_name: str) -> None:
    path = f"/var/log/pods/kube-system_coredns-76f75df574-9xk2m_{UID}/coredns/{file_name}"
    assert names_from_path(path, None) == FileNames(
        "kube-system", "coredns-76f75df574-9xk2m", UID, "coredns"
    )


@pytest.mark.parametrize(
    "file_name", ["0.log.20240501-120000.gz.tmp", "0.log.20240501-120000.tmp", "x.log", "0.txt"]
)
def test_other_files_in_a_pods_dir_give_nothing(file_name: str) -> None:
    path = f"/var/log/pods/kube-system_coredns-76f75df574-9xk2m_{UID}/coredns/{file_name}"
    assert names_from_path(path, None) == FileNames()


def test_old_uid_only_layout_takes_pod_and_namespace_from_the_link() -> None:
    static_uid = "b4e13f4ac6a7e4cf5e8f1e2d3c4b5a69"
    pods = f"/var/log/pods/{static_uid}/etcd/0.log"
    link = f"/var/log/containers/etcd-node-1_kube-system_etcd-{CID}.log"
    assert names_from_path(pods, link) == FileNames(
        "kube-system", "etcd-node-1", static_uid, "etcd", CID
    )
    assert names_from_path(pods, None) == FileNames(pod_id=static_uid, container_name="etcd")


def _kubelet_link_name(pod: str, namespace: str, container: str, cid: str) -> str:
    """Kubelet's link name: the part before `.log` cut so the whole is at most 255 bytes."""
    return f"{pod}_{namespace}_{container}-{cid}"[:251] + ".log"


def test_255_byte_cut_link_gives_no_id_and_no_container() -> None:
    pod = "payments-reconciliation-nightly-report-" + "x" * 100 + "-28573920-x7k2p"
    name = _kubelet_link_name(pod, "payments", "settlement-report-generator", CID)
    assert len(name.encode()) == 255
    link = f"/var/log/containers/{name}"
    assert names_from_path(link, None) == FileNames("payments", pod)
    pods = f"/var/log/pods/payments_{pod}_{UID}/settlement-report-generator/0.log"
    assert names_from_path(pods, link) == FileNames(
        "payments", pod, UID, "settlement-report-generator", None
    )


@pytest.mark.parametrize("cut", range(1, 64))
def test_a_cut_id_is_never_read_as_an_id(cut: int) -> None:
    # Choose the pod name's length so that exactly `cut` characters of the id are lost.
    container = "app-0123456789abcdef"
    pod = "p" * (251 - len(f"_ns_{container}-") - 64 + cut)
    name = _kubelet_link_name(pod, "ns", container, CID)
    assert len(name.encode()) == 255
    names = names_from_path(f"/var/log/containers/{name}", None)
    assert (names.container_id, names.container_name) == (None, None)
    assert (names.namespace_name, names.pod_name) == ("ns", pod)


def test_a_full_255_byte_link_name_is_not_cut() -> None:
    container = "app"
    pod = "p" * (251 - len(f"_ns_{container}-") - 64)
    name = _kubelet_link_name(pod, "ns", container, CID)
    assert len(name.encode()) == 255
    assert names_from_path(f"/c/{name}", None) == FileNames("ns", pod, None, "app", CID)


def test_a_cut_inside_the_namespace_gives_nothing() -> None:
    name = "p" * 245 + "_payme.log"
    assert len(name) == 255
    assert names_from_path(f"/var/log/containers/{name}", None) == FileNames()


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/",
        "0.log",
        "/var/log/syslog",
        "/var/log/pods/0.log",
        "/var/log/pods/default_web/nginx/0.log",  # two fields
        "/var/log/pods/default_web_uid_extra/nginx/0.log",  # four fields
        f"/var/log/pods/Default_web_{UID}/nginx/0.log",  # not a DNS label
        f"/var/log/pods/default_web_{UID}/Nginx/0.log",
        f"/var/log/pods/default_web_{UID}/nginx/extra/0.log",  # too deep
        f"/var/log/notpods/default_web_{UID}/nginx/0.log",
        "/var/log/containers/web_default_nginx.log",  # no id
        f"/var/log/containers/web_default_nginx-{CID[:63]}.log",  # short id
        f"/var/log/containers/web_default_nginx-{CID.upper()}.log",
        f"/var/log/containers/web_default_nginx-{CID}.log.gz",
        f"/var/log/containers/web_de_fault_nginx-{CID}.log",
        "\x00\udcff/pods/a_b_zz/d/0.log",
        "\udcff" * 255,
        "/var/log/containers/" + "\ud800" * 255,
    ],
)
def test_garbage_gives_none_fields(path: str) -> None:
    assert names_from_path(path, None) == FileNames()
    assert names_from_path(path, path) == FileNames()


def test_garbage_link_does_not_hide_a_good_pods_path() -> None:
    assert names_from_path(PODS, "/var/log/containers/garbage.log") == FileNames(
        "default", "web-7d9c5b6f4-x2kqp", UID, "nginx"
    )


@given(st.text(), st.one_of(st.none(), st.text()))
def test_never_raises(path: str, link: str | None) -> None:
    assert isinstance(names_from_path(path, link), FileNames)


_PIECES = st.sampled_from(
    [
        "pods",
        "containers",
        "",
        "..",
        "0.log",
        "1.log.20240501-120000",
        f"a_b.c_{UID}",
        UID,
        "_",
        f"x_y_z-{CID}.log",
        "nginx",
        "-",
        ".log",
        CID[:40],
    ]
)


@given(st.lists(_PIECES | st.text(max_size=8), max_size=8), st.booleans())
def test_never_raises_on_path_like_strings(pieces: list[str], as_link: bool) -> None:
    path = "/".join(pieces)
    names = names_from_path(path, path if as_link else None)
    assert names.container_id is None or len(names.container_id) == 64
