"""How a followed file's bytes are read: a plain file by position, or kubelet's gzipped
copy of one as the stream it decompresses to.

Both answer in the plain file's offsets, so a file resumed from its `.gz` copy continues at
the offset its saved position names and its records keep the ids they would have had.
Decompression streams: memory stays at zlib's window plus one read, never the whole file,
and nothing is written to disk.
"""

from __future__ import annotations

import gzip
import os
import zlib
from typing import Protocol

from shipper.sources.tail.identity import FINGERPRINT_BYTES

_ISIZE_WRAP = 1 << 32  # gzip's trailer holds the plain size modulo 2^32


class Reader(Protocol):
    """The bytes of one followed file."""

    fd: int
    compressed: bool

    def head(self, length: int = FINGERPRINT_BYTES) -> bytes:
        """The file's first `length` bytes (fewer if it is shorter)."""

    def stat(self) -> tuple[int, bool]:
        """(size in plain bytes, whether the file has been deleted)."""

    def read(self, n: int, offset: int) -> bytes:
        """Up to `n` bytes at `offset`; fewer only at the end."""

    def close(self) -> None: ...


class PlainReader:
    """A plain file, read by position from its fd (kept across renames and deletion)."""

    compressed = False

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def head(self, length: int = FINGERPRINT_BYTES) -> bytes:
        return os.pread(self.fd, length, 0)

    def stat(self) -> tuple[int, bool]:
        st = os.fstat(self.fd)
        return st.st_size, st.st_nlink == 0

    def read(self, n: int, offset: int) -> bytes:
        return os.pread(self.fd, n, offset)

    def close(self) -> None:
        os.close(self.fd)


class GzipReader:
    """A gzipped copy, read forward from any offset of the plain stream.

    Its size is the trailer's (exact below 4 GiB; past it, each time the stream turns out
    longer the estimate grows by 4 GiB). A damaged copy raises OSError like a failing disk.
    """

    compressed = True

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._file = os.fdopen(fd, "rb", closefd=False)
        self._stream = gzip.GzipFile(fileobj=self._file, mode="rb")
        self._size = _trailer_size(fd)
        self._head = self._read(FINGERPRINT_BYTES)
        self._position = len(self._head)

    def head(self, length: int = FINGERPRINT_BYTES) -> bytes:
        return self._head[:length]

    def stat(self) -> tuple[int, bool]:
        return self._size, os.fstat(self.fd).st_nlink == 0

    def read(self, n: int, offset: int) -> bytes:
        if offset != self._position:
            self._seek(offset)
        data = self._read(n)
        self._position += len(data)
        if len(data) < n:
            self._size = self._position  # the real end
        elif self._position >= self._size and self._more():
            self._size += _ISIZE_WRAP
        return data

    def close(self) -> None:
        try:
            self._stream.close()
            self._file.close()
        finally:
            os.close(self.fd)

    def _seek(self, offset: int) -> None:
        try:
            self._stream.seek(offset)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise OSError(f"damaged compressed copy: {exc}") from exc
        self._position = self._stream.tell()

    def _read(self, n: int) -> bytes:
        try:
            return self._stream.read(n)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise OSError(f"damaged compressed copy: {exc}") from exc

    def _more(self) -> bool:
        try:
            return bool(self._stream.peek(1))
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise OSError(f"damaged compressed copy: {exc}") from exc


def _trailer_size(fd: int) -> int:
    """The plain size from the gzip trailer's last four bytes (little-endian ISIZE)."""
    size = os.fstat(fd).st_size
    if size < 18:  # header and trailer at least: not a complete gzip file
        raise OSError("damaged compressed copy: too short")
    return int.from_bytes(os.pread(fd, 4, size - 4), "little")


def open_reader(fd: int, compressed: bool) -> Reader:
    """The reader for an open file: `compressed` for a kubelet `.gz` copy."""
    return GzipReader(fd) if compressed else PlainReader(fd)
