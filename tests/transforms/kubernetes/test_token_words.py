"""A token file that turns into several words is never sent nor logged (issue 15)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from shipper.settings import Settings
from shipper.transforms.kubernetes.client import KubeApiError, KubeClient
from tests.fakes.kube_apiserver import FakeKubeApiServer


async def test_a_token_rotated_into_several_words_is_dropped_unshown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server_token = tmp_path / "server-token"
    server_token.write_text("first-S3cret")
    client_token = tmp_path / "client-token"
    client_token.write_text("first-S3cret\n")
    with FakeKubeApiServer(token_file=server_token) as fake:
        client = KubeClient(
            Settings(kube_url=fake.url, kube_token_file=str(client_token)), lambda: 0.0
        )
        try:
            assert (await client.get_json("/api/v1/pods"))["kind"] == "PodList"
            server_token.write_text("second-S3cret")
            client_token.write_text("second-S3cret\nsecond-S3cret\n")  # a botched edit
            with caplog.at_level(logging.WARNING), pytest.raises(KubeApiError) as raised:
                await client.get_json("/api/v1/pods")  # 401, re-read, not usable
        finally:
            await client.aclose()
    assert raised.value.code == 401
    assert [r.status for r in fake.requests] == [200, 401, 401]
    assert "holds several words: not used" in caplog.text
    assert "S3cret" not in caplog.text + str(raised.value)
