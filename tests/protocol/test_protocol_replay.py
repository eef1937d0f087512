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
