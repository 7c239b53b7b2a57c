from shipper.net.backoff import BASE_DELAY, Backoff, full_jitter


def test_ceiling_doubles_then_stays_at_the_cap() -> None:
    ceilings = [full_jitter(attempt, cap=1.0, draw=1.0) for attempt in range(1, 10)]
    assert ceilings[:4] == [BASE_DELAY, 2 * BASE_DELAY, 4 * BASE_DELAY, 8 * BASE_DELAY]
    assert ceilings[4:] == [1.0] * 5


def test_full_jitter_draws_between_zero_and_the_ceiling() -> None:
    assert full_jitter(3, cap=10.0, draw=0.0) == 0.0
    assert full_jitter(3, cap=10.0, draw=0.5) == 0.5 * 4 * BASE_DELAY


def test_huge_attempt_counts_stay_capped() -> None:
    assert full_jitter(10_000, cap=30.0, draw=1.0) == 30.0


def test_backoff_counts_failures_and_resets() -> None:
    backoff = Backoff(cap=0.2, rand=lambda: 1.0)
    delays = [backoff.next_delay() for _ in range(5)]
    assert delays == [0.1, 0.2, 0.2, 0.2, 0.2]
    assert backoff.attempts == 5
    backoff.reset()
    assert backoff.next_delay() == 0.1


def test_random_delays_stay_within_bounds() -> None:
    backoff = Backoff(cap=3.0)
    for attempt in range(1, 200):
        delay = backoff.next_delay()
        assert 0.0 <= delay <= min(3.0, BASE_DELAY * 2 ** (attempt - 1))
