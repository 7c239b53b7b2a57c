"""RetryPolicy without a network: splitting, an endpoint at fault, the --once budget."""

from __future__ import annotations

from shipper.net.backoff import Backoff
from shipper.sinks.elasticsearch.policy import RetryPolicy


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_request_refused_whole_is_split_in_halves_first_half_first() -> None:
    policy = RetryPolicy(once=False, budget=0.0)
    assert policy.halves(10) == ((0, 5), (5, 10))
    assert policy.halves(3) == ((0, 1), (1, 3))
    assert not policy.refusing


def test_one_document_refused_whole_says_the_endpoint_is_at_fault() -> None:
    policy = RetryPolicy(once=False, budget=0.0)
    assert policy.halves(1) is None
    assert policy.refusing
    # once the endpoint refuses whole, no request is split (nothing is dead-lettered)
    assert policy.halves(100) is None
    policy.answered()  # an answer item by item: documents are judged again
    assert policy.halves(100) == ((0, 50), (50, 100))


def test_while_running_failures_are_never_given_up() -> None:
    clock = Clock()
    policy = RetryPolicy(once=False, budget=1.0, clock=clock)
    assert not policy.give_up()
    clock.now += 1e6
    assert not policy.give_up()
    assert policy.failing_since == 1000.0
    assert policy.failing_for() == 1e6


def test_with_once_failures_are_given_up_when_they_lasted_the_budget() -> None:
    clock = Clock()
    policy = RetryPolicy(once=True, budget=5.0, clock=clock)
    assert not policy.give_up()  # the run of failures starts now
    clock.now += 4.9
    assert not policy.give_up()
    clock.now += 0.1
    assert policy.give_up()


def test_a_delivered_request_ends_the_run_of_failures() -> None:
    clock = Clock()
    policy = RetryPolicy(once=True, budget=5.0, clock=clock)
    policy.give_up()
    clock.now += 4.0
    policy.delivered()
    assert policy.failing_since is None and policy.failing_for() == 0.0
    clock.now += 4.0
    assert not policy.give_up()  # a new run, with a whole budget
    clock.now += 4.0
    assert not policy.give_up()


def test_with_once_no_wait_goes_past_the_end_of_the_budget() -> None:
    clock = Clock()
    policy = RetryPolicy(once=True, budget=5.0, clock=clock)
    backoff = Backoff(cap=60.0, base=10.0, rand=lambda: 1.0)
    policy.give_up()
    clock.now += 2.0
    assert policy.delay(backoff) == 3.0  # 10 s of backoff, 3 s of budget left
    clock.now += 10.0
    assert policy.delay(backoff) == 0.0


def test_while_running_the_backoff_alone_sets_the_wait() -> None:
    policy = RetryPolicy(once=False, budget=0.0)
    backoff = Backoff(cap=60.0, base=10.0, rand=lambda: 1.0)
    policy.give_up()
    assert [policy.delay(backoff) for _ in range(4)] == [10.0, 20.0, 40.0, 60.0]
