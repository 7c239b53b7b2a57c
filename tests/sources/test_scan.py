"""Which files are followed: globs, excludes, own pod, links, never-read suffixes."""

from __future__ import annotations

from pathlib import Path

from shipper.settings import Settings
from shipper.sources.tail.scan import Scanner
from tests.sources.support import Kubelet, TailFactory, until


def test_link_and_target_both_globbed_are_one_file_with_its_link(kubelet: Kubelet) -> None:
    real, link = kubelet.container("default", "web")
    both = Settings(paths=(str(kubelet.pods / "*/*/*.log"), str(kubelet.containers / "*.log")))
    [match] = Scanner(both).scan().values()
    assert (match.path, match.link) == (str(real), str(link))


def test_excludes_apply_to_the_link_and_to_the_real_path(kubelet: Kubelet) -> None:
    kubelet.container("default", "web")
    kubelet.container("default", "noisy")
    kubelet.container("kube-system", "dns")
    settings = Settings(
        paths=(str(kubelet.containers / "*.log"),),
        exclude_paths=("*/noisy_default_*", "*/pods/kube-system_*"),
    )
    found = {m.link for m in Scanner(settings).scan().values()}
    assert found == {str(kubelet.containers / f"web_default_app-{'ab' * 32}.log")}


def test_own_pod_is_always_excluded(kubelet: Kubelet) -> None:
    kubelet.container("logging", "shipper-x1")
    kubelet.container("logging", "shipper-x12")  # a prefix of ours is another pod
    settings = Settings(
        paths=(str(kubelet.containers / "*.log"), str(kubelet.pods / "*/*/*.log")),
        pod_name="shipper-x1",
        pod_namespace="logging",
    )
    [match] = Scanner(settings).scan().values()
    assert "shipper-x12" in match.path


def test_gz_tmp_dangling_links_and_directories_are_not_followed(tmp_path: Path) -> None:
    for name in ("a.log", "b.log.gz", "c.tmp", "0.log.20240501-120000.gz"):
        (tmp_path / name).write_bytes(b"x\n")
    (tmp_path / "dir.log").mkdir()
    (tmp_path / "dangling.log").symlink_to(tmp_path / "missing")
    (tmp_path / "to-gz.log").symlink_to(tmp_path / "b.log.gz")
    found = Scanner(Settings(paths=(str(tmp_path / "*"),))).scan()
    assert [m.path for m in found.values()] == [str(tmp_path / "a.log")]


def test_watch_roots_cover_the_glob_and_the_link_targets(kubelet: Kubelet) -> None:
    real, _link = kubelet.container("default", "web")
    scanner = Scanner(Settings(paths=(str(kubelet.containers / "*.log"),)))
    roots = scanner.watch_roots([str(real)])
    assert roots == tuple(sorted((str(kubelet.containers), str(real.parent))))
    pods = Scanner(Settings(paths=(str(kubelet.pods / "*/*/*.log"),)))
    assert pods.watch_roots([str(real)]) == (str(kubelet.pods),)


async def test_source_follows_a_link_and_its_target_once(
    tails: TailFactory, kubelet: Kubelet
) -> None:
    real, link = kubelet.container("default", "web")
    real.write_bytes(b"once\n")
    tail = await tails.start(
        paths=(str(kubelet.containers / "*.log"), str(kubelet.pods / "*/*/*.log"))
    )
    await until(lambda: tail.consumer.all_data() == b"once\n")
    [recorded] = tail.consumer.files
    assert (recorded.info.path, recorded.info.link) == (str(real), str(link))
    assert tail.source.files_open == 1


async def test_source_skips_excluded_and_own_pod_files(
    tails: TailFactory, kubelet: Kubelet
) -> None:
    mine, _ = kubelet.container("logging", "shipper-abc")
    skipped, _ = kubelet.container("default", "skip-me")
    kept, _ = kubelet.container("default", "web")
    for path in (mine, skipped, kept):
        path.write_bytes(b"hello\n")
    tail = await tails.start(
        paths=(str(kubelet.containers / "*.log"),),
        exclude_paths=("*skip-me*",),
        pod_name="shipper-abc",
        pod_namespace="logging",
    )
    await until(lambda: tail.consumer.fed(kept) == b"hello\n")
    assert [f.info.path for f in tail.consumer.files] == [str(kept)]
