import time

import pytest

from styleswap_protocol import ReplayedMessageError, ReplayGuard, StaleMessageError


def test_window_accepts_recent_and_rejects_far_times():
    guard = ReplayGuard(window=10)
    now = time.time()
    guard.check("a" * 32, now - 5)
    guard.check("b" * 32, now + 5)
    with pytest.raises(StaleMessageError):
        guard.check("c" * 32, now - 11)
    with pytest.raises(StaleMessageError):
        guard.check("d" * 32, now + 11)


def test_capacity_bounds_memory_without_reopening_evicted_ids():
    guard = ReplayGuard(capacity=2)
    now = time.time()
    guard.check("1" * 32, now - 3)
    guard.check("2" * 32, now - 2)
    guard.check("3" * 32, now - 1)  # evicts "1..." and raises the floor to now - 3
    assert len(guard) == 2
    with pytest.raises(StaleMessageError, match="replay memory"):
        guard.check("1" * 32, now - 3)
    with pytest.raises(ReplayedMessageError):
        guard.check("2" * 32, now - 2)
    guard.check("4" * 32, now - 2.5)  # after the floor: still accepted


def test_rejected_message_is_not_remembered():
    guard = ReplayGuard(window=10)
    with pytest.raises(StaleMessageError):
        guard.check("e" * 32, time.time() - 60)
    assert len(guard) == 0


@pytest.mark.parametrize("kwargs", [{"window": 0}, {"window": float("inf")}, {"capacity": 0}])
def test_invalid_settings(kwargs):
    with pytest.raises(ValueError):
        ReplayGuard(**kwargs)


class SteppedClock:
    """The receiver's clock, set by the test: forwards past the window, and back as a wrong NTP step would."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_ids_are_forgotten_once_their_send_time_leaves_the_window():
    clock = SteppedClock(1_000.0)
    guard = ReplayGuard(window=10, capacity=100, clock=clock)
    guard.check("a" * 32, 1_000.0)
    guard.check("b" * 32, 1_004.0)
    clock.now = 1_012.0  # a was sent 12 s ago, b 8 s ago
    guard.check("c" * 32, 1_012.0)
    assert len(guard) == 2  # a forgotten by time, long before the capacity of 100
    clock.now = 1_015.0  # b is now 11 s old
    guard.check("d" * 32, 1_015.0)
    assert len(guard) == 2


def test_an_id_forgotten_by_time_stays_refused_after_the_clock_steps_back():
    """The docstring's promise: once an id is forgotten, the floor (its send time) refuses it, even when the
    receiver's clock steps back so that its send time lies inside the window again."""
    clock = SteppedClock(1_000.0)
    guard = ReplayGuard(window=10, capacity=100, clock=clock)
    guard.check("a" * 32, 1_000.0)
    clock.now = 1_011.0
    guard.check("b" * 32, 1_011.0)  # forgets a, floor rises to 1000
    assert len(guard) == 1
    clock.now = 1_001.0  # stepped back ten seconds: a's send time is 1 s old again
    with pytest.raises(StaleMessageError, match="replay memory"):
        guard.check("a" * 32, 1_000.0)
    with pytest.raises(StaleMessageError, match="replay memory"):
        guard.check("z" * 32, 999.5)  # a new id sent before the floor too
    guard.check("y" * 32, 1_000.5)  # after the floor: accepted
