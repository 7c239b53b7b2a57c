"""Answers read within a size cap: an endless or huge answer (a proxy gone wrong, an
API server misbehaving) fails the attempt instead of taking the process's memory."""

from __future__ import annotations

import httpx


class AnswerTooLarge(ValueError):
    """An answer longer than its cap: not an answer the server gives, so not read on."""


async def read_capped(response: httpx.Response, cap: int) -> bytes:
    """The answer's body (decoded), or `AnswerTooLarge` as soon as it is known to pass
    `cap` bytes (from its Content-Length, or while it is read)."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > cap:
        raise AnswerTooLarge(f"the answer is larger than {cap} bytes (over the cap)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > cap:
            raise AnswerTooLarge(f"the answer is larger than {cap} bytes (over the cap)")
        chunks.append(chunk)
    return b"".join(chunks)
