"""Fixtures of the Kubernetes tests: a token file and a fake API server that takes it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.kube_apiserver import FakeKubeApiServer


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("token-1\n")
    return path


@pytest.fixture
def fake(token_file: Path) -> Iterator[FakeKubeApiServer]:
    with FakeKubeApiServer(token_file=token_file, bookmark_interval=0.2) as server:
        yield server
