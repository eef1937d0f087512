import threading

import pytest

from daemon_helpers import wait_until
from styleswap.daemon import fair_queue
from styleswap.daemon.fair_queue import FairQueue, admission_share


def waiting_consumers(queue: FairQueue) -> int:
    """Threads blocked in ``get`` (CPython's Condition keeps its waiters in ``_waiters``)."""
    return len(queue._cond._waiters)


def drain(queue: FairQueue) -> list:
    items = []
    while (item := queue.get(timeout=0)) is not None:
        items.append(item)
    return items


def test_clients_take_turns_and_a_newcomer_goes_next():
    queue: FairQueue[str] = FairQueue()
    for i in range(1, 5):
        queue.put("a", f"a{i}")
    assert queue.get(timeout=0) == "a1"  # a is served while b's request arrives
    queue.put("b", "b1")
    queue.put("b", "b2")
    queue.put("c", "c1")
    assert drain(queue) == ["b1", "c1", "a2", "b2", "a3", "a4"]


def test_a_client_just_served_waits_behind_one_still_waiting():
    queue: FairQueue[str] = FairQueue()
    queue.put("a", "a1")
    queue.put("b", "b1")
    queue.put("b", "b2")
    assert queue.get(timeout=0) == "a1"
    queue.put("a", "a2")  # a's lane empties and refills: a must not jump ahead of b again
    assert drain(queue) == ["b1", "a2", "b2"]


def test_items_not_runnable_keep_their_place():
    parked = {"s"}
    queue: FairQueue[tuple[str, int]] = FairQueue(runnable=lambda item: item[0] not in parked)
    queue.put("x", ("s", 1))
    queue.put("x", ("t", 1))
    queue.put("x", ("s", 2))
    assert queue.get(timeout=0) == ("t", 1)
    assert queue.get(timeout=0) is None and len(queue) == 2
    parked.clear()
    queue.wake()
    assert drain(queue) == [("s", 1), ("s", 2)]


def test_remove_takes_out_matching_items_only():
    queue: FairQueue[int] = FairQueue()
    for i in range(6):
        queue.put(i % 2, i)
    assert sorted(queue.remove(lambda item: item % 3 == 0)) == [0, 3]
    assert sorted(drain(queue)) == [1, 2, 4, 5]


def test_pause_holds_items_and_resume_releases_a_waiting_consumer():
    queue: FairQueue[str] = FairQueue()
    queue.set_paused(True)
    queue.put("a", "a1")
    assert queue.get(timeout=0.05) is None
    got = []
    consumer = threading.Thread(target=lambda: got.append(queue.get(timeout=10)), daemon=True)
    consumer.start()
    wait_until(lambda: waiting_consumers(queue) == 1, "the consumer waiting")  # so resuming must wake it
    queue.set_paused(False)
    consumer.join(120)
    assert got == ["a1"]


def test_close_wakes_the_consumer_with_none():
    queue: FairQueue[str] = FairQueue()
    got = []
    consumer = threading.Thread(target=lambda: got.append(queue.get()), daemon=True)  # a queue that never wakes it must not keep pytest from exiting
    consumer.start()
    wait_until(lambda: waiting_consumers(queue) == 1, "the consumer waiting")
    queue.close()
    consumer.join(120)
    assert got == [None] and not consumer.is_alive()


def test_pruning_the_served_memory_keeps_the_turns_of_clients_still_waiting(monkeypatch):
    """Past _SERVED_MEMORY clients the queue forgets those with nothing queued, but not the last turn of those still
    waiting: a client served a moment ago must not look new and jump ahead of one served earlier."""
    monkeypatch.setattr(fair_queue, "_SERVED_MEMORY", 2)
    queue: FairQueue[str] = FairQueue()
    for i in range(1, 4):
        queue.put("a", f"a{i}")
        queue.put("b", f"b{i}")
    assert [queue.get(timeout=0) for _ in range(3)] == ["a1", "b1", "a2"]  # a's turn is later than b's
    queue.put("c", "c1")
    assert queue.get(timeout=0) == "c1"  # a newcomer goes first; 3 remembered clients > 2: c (no lane) is pruned
    assert drain(queue) == ["b2", "a3", "b3"]


@pytest.mark.parametrize("memory", [2, fair_queue._SERVED_MEMORY])
def test_a_client_whose_lane_emptied_keeps_its_turn_until_the_memory_overflows(monkeypatch, memory):
    """With room for 2 clients nothing is pruned at 2 (nor below the default's 4096): a, served after b and back
    with a new item, still waits behind b; pruning at the limit or below it would forget a's turn and let it jump
    ahead."""
    monkeypatch.setattr(fair_queue, "_SERVED_MEMORY", memory)
    queue: FairQueue[str] = FairQueue()
    queue.put("b", "b1")
    queue.put("b", "b2")
    queue.put("a", "a1")
    assert [queue.get(timeout=0), queue.get(timeout=0)] == ["b1", "a1"]  # a's lane is empty now
    queue.put("a", "a2")
    assert drain(queue) == ["b2", "a2"]


def test_paused_reads_as_a_flag():
    queue: FairQueue[str] = FairQueue()
    assert queue.paused is False
    queue.set_paused(True)
    assert queue.paused is True


@pytest.mark.parametrize(("others", "pruned"), [(4094, False), (4095, True)])
def test_the_queue_remembers_the_turns_of_4096_clients(others, pruned):
    """b and a are served, a's lane empties; then one-off clients come and go. Up to 4096 remembered clients a keeps
    its turn (and waits behind b when it comes back); the 4097th prunes it, and it comes back as a newcomer."""
    queue: FairQueue[str] = FairQueue()
    queue.put("b", "b1")
    queue.put("b", "b2")
    queue.put("a", "a1")
    assert [queue.get(timeout=0), queue.get(timeout=0)] == ["b1", "a1"]
    for n in range(others):
        queue.put(n, f"one-off {n}")
        assert queue.get(timeout=0) == f"one-off {n}"  # a newcomer, before b2
    queue.put("a", "a2")
    assert drain(queue) == (["a2", "b2"] if pruned else ["b2", "a2"])


@pytest.mark.parametrize(("limit", "floods"), [(64, [17, 9]), (8, [3, 2]), (5, [2, 2]), (2, [2, 0]), (1, [1, 0])])  # 5: an odd half
def test_admission_share_keeps_half_the_places_for_first_jobs(limit, floods):
    """What a flood takes alone, then a second flood after it (as far as places are left); the daemon's refusal
    of a flood is tested end to end in test_daemon_admission.py."""
    holdings = [0, 0]
    for who in (0, 1):
        while sum(holdings) < limit and admission_share(holdings[who], holdings, limit):
            holdings[who] += 1
    assert holdings == floods
    assert sum(max(0, held - 1) for held in holdings) <= limit // 2  # places beyond a client's first


def test_a_first_place_is_granted_whatever_others_hold():
    """The first-place promise does not lean on the others' holdings being within the half kept for extras (a
    smaller limit after a restart of the queue's accounting, say): a newcomer is admitted all the same."""
    assert admission_share(0, [0, 40, 40], 8)
    assert not admission_share(1, [1, 40, 40], 8)
