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


@pytest.mark.parametrize("kwargs", [{"window": 0}, {"window": -1}, {"window": float("inf")}, {"window": float("nan")}, {"capacity": 0}])
def test_invalid_settings(kwargs):
    with pytest.raises(ValueError):
        ReplayGuard(**kwargs)


def test_the_smallest_settings_work():
    guard = ReplayGuard(window=0.5, capacity=1, clock=lambda: 100.0)
    guard.check("a" * 32, 99.6)
    guard.check("b" * 32, 100.0)
    assert len(guard) == 1


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


def test_defaults_are_the_protocols_five_minutes_and_ten_thousand_ids():
    """PROTOCOL.md: window=300.0, capacity=10_000."""
    clock = SteppedClock(1_000_000.0)
    guard = ReplayGuard(clock=clock)
    guard.check("early", 1_000_000.0 - 300.0)  # exactly at the edge of the window: accepted
    with pytest.raises(StaleMessageError):
        guard.check("late", 1_000_000.0 + 300.5)
    for n in range(9_999):
        guard.check(f"{n:032d}", 1_000_000.0)
    assert len(guard) == 10_000
    guard.check("one more", 1_000_000.0)
    assert len(guard) == 10_000  # "early" went, and its time became the floor
    with pytest.raises(StaleMessageError, match="replay memory"):
        guard.check("again", 1_000_000.0 - 300.0)


def test_the_window_edges_are_inclusive_and_ids_at_the_edge_are_remembered():
    clock = SteppedClock(1_000.0)
    guard = ReplayGuard(window=10, clock=clock)
    guard.check("a" * 32, 990.0)  # exactly window seconds old
    guard.check("b" * 32, 1_010.0)  # exactly window seconds ahead
    clock.now = 1_000.0
    guard.check("c" * 32, 1_000.0)
    assert len(guard) == 3  # a, sent exactly window seconds ago, is still remembered


def test_a_fresh_guard_has_no_floor():
    """Whatever the clock reads (here its zero), a first message inside the window is accepted."""
    guard = ReplayGuard(window=10, clock=lambda: 0.0)
    guard.check("a" * 32, 0.0)
    guard.check("b" * 32, -9.0)
    assert len(guard) == 2


def test_a_stale_message_is_told_how_far_off_its_time_is():
    guard = ReplayGuard(window=10, clock=lambda: 1_000.0)
    with pytest.raises(StaleMessageError, match=r"^message time is -11\.5 s from this clock; the window is ±10 s$"):
        guard.check("a" * 32, 988.5)
    with pytest.raises(StaleMessageError, match=r"^message time is \+12\.0 s from this clock"):
        guard.check("a" * 32, 1_012.0)
