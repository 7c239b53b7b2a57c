"""read_capped: an answer is read whole within its cap, or fails as soon as it passes it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from shipper.net.capped import AnswerTooLarge, read_capped


def streamed(*chunks: bytes) -> httpx.Response:
    """An answer without Content-Length, its body coming in `chunks` (as a chunked one)."""

    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return httpx.Response(200, content=body())


async def test_an_answer_within_the_cap_is_read_whole() -> None:
    assert await read_capped(streamed(b"ab", b"cd", b"e"), 5) == b"abcde"
    assert await read_capped(httpx.Response(200, content=b"abcde"), 5) == b"abcde"


async def test_an_endless_answer_fails_once_past_the_cap() -> None:
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        while True:
            sent.append(1)
            yield b"x" * 100

    with pytest.raises(AnswerTooLarge, match="larger than 250 bytes"):
        await read_capped(httpx.Response(200, content=endless()), 250)
    assert len(sent) == 3  # not read on past the chunk that passed the cap


async def test_a_content_length_over_the_cap_fails_before_reading() -> None:
    response = httpx.Response(200, content=b"x" * 10)
    with pytest.raises(AnswerTooLarge, match="over the cap"):
        await read_capped(response, 9)
    assert response.headers["Content-Length"] == "10"
