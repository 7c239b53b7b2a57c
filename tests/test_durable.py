"""`durable.end_of_last_line` on real files: the offset a torn line is cut at."""

import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from shipper.durable import end_of_last_line


@settings(max_examples=60, deadline=None)
@given(  # lines long enough to cross the 64 KiB read-back chunk; a torn last one or not
    lengths=st.lists(st.integers(0, 150_000), max_size=4), tail=st.integers(0, 140_000)
)
def test_the_offset_is_just_after_the_last_newline(lengths: list[int], tail: int) -> None:
    content = b"".join(b"x" * n + b"\n" for n in lengths) + b"y" * tail
    with tempfile.TemporaryFile() as file:
        file.write(content)
        file.flush()
        fd = file.fileno()
        assert end_of_last_line(fd, len(content)) == content.rfind(b"\n") + 1
        size = len(content) // 2  # only the first `size` bytes count
        assert end_of_last_line(fd, size) == content[:size].rfind(b"\n") + 1
