"""The restart rule's stages, each on its own (the decoders, the trace joiner and the
pipeline apply them; tests/transforms/ checks the rule end to end)."""

from shipper.restart import (
    AckTracker,
    block_restart,
    decoder_restart,
    trace_restart,
    whole_lines,
)


def test_the_decoder_restarts_at_open_groups_else_at_the_unterminated_line() -> None:
    assert decoder_restart(line_start=120, group_restart=None) == 120
    assert decoder_restart(line_start=120, group_restart=40) == 40


def test_a_read_holds_whole_lines_only_when_fresh_and_one_record_per_newline() -> None:
    assert whole_lines(True, 2, b"a\nb\n")
    assert not whole_lines(False, 2, b"a\nb\n")  # a partial group was pending before it
    assert not whole_lines(True, 1, b"a\nb\n")  # two lines joined into one record


def test_the_restart_point_is_lowered_past_open_traces_and_the_traces_it_falls_in() -> None:
    # an open trace from 100 (base 90); a closed trace 50..95 (base 45) that 90 falls in
    resume, kept = trace_restart(200, [(100, 150, 90)], [(50, 95, 45)])
    assert resume == 45
    assert kept == [(50, 95, 45)]


def test_closed_traces_below_every_later_restart_point_are_forgotten() -> None:
    resume, kept = trace_restart(300, [], [(10, 20, 5), (250, 320, 240)])
    assert resume == 240  # 300 falls inside the second trace
    assert kept == [(250, 320, 240)]  # the first ends below 240: no later point reaches it


def test_only_a_reads_last_block_carries_the_reads_restart_point() -> None:
    assert block_restart(last=False, read_restart=500, previous=100) == 100
    assert block_restart(last=True, read_restart=500, previous=100) == 500


def test_the_committed_offset_moves_past_whole_tickets_in_file_order() -> None:
    commits: list[int] = []
    tracker = AckTracker(0, commits.append, lambda n: None)
    first, second = tracker.issue(2, 10, 0), tracker.issue(1, 20, 0)
    second.ack()
    assert commits == []  # the earlier ticket is not acknowledged yet
    first.ack(2)
    assert commits == [20] and tracker.committed == 20
