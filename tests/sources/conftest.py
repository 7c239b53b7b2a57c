from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.sources.support import Kubelet, TailFactory


@pytest.fixture
async def tails(tmp_path: Path) -> AsyncIterator[TailFactory]:
    """Start TailSources on tmp_path/logs/*.log (override any setting); all closed after."""
    factory = TailFactory(tmp_path)
    try:
        yield factory
    finally:
        await factory.close_all()


@pytest.fixture
def kubelet(tmp_path: Path) -> Kubelet:
    return Kubelet(tmp_path)
