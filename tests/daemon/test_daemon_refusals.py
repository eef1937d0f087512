"""A flood of bad messages costs a few log lines a minute, not the log: the first refusals are logged in
full, the rest summarised."""

import logging

from daemon_helpers import RawPeer
from styleswap.daemon.refusals import BURST, RefusalLog


class Clock:
    """Time the test moves by hand: the summary is due when a minute has passed, however fast the machine."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_is_logged_in_full_up_to_the_burst_then_summarised_once_a_minute(caplog):
    clock = Clock()
    refusals = RefusalLog(logging.getLogger("styleswap.test.refusals"), clock=clock)
    with caplog.at_level(logging.WARNING, logger="styleswap.test.refusals"):
        for i in range(200_000):
            refusals.refused("bad_signature" if i % 4 else "malformed", "signature does not match")
            clock.now += 30.0 / 200_000  # the whole flood within half a minute
        assert len(caplog.records) == BURST + 1  # the burst and a note that counting has begun
        clock.now += 31.0
        refusals.tick()
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == BURST + 2
    assert lines[-1] == f"200000 messages refused in the last minute (bad_signature 150000, malformed 50000); the first {BURST} were logged"


def test_a_quiet_minute_gets_no_summary(caplog):
    clock = Clock()
    refusals = RefusalLog(logging.getLogger("styleswap.test.refusals"), clock=clock)
    with caplog.at_level(logging.WARNING, logger="styleswap.test.refusals"):
        for _ in range(3):
            refusals.refused("stale", "message time is -400 s from this clock")
        clock.now += 61.0
        refusals.tick()
        refusals.refused("stale", "again, in a new minute")
    assert [record.getMessage() for record in caplog.records][-1] == "refused a message (stale): again, in a new minute"
    assert len(caplog.records) == 4


def test_the_daemon_logs_a_flood_of_bad_messages_in_a_bounded_number_of_lines(daemon):
    peer = RawPeer(daemon.info)
    try:
        assert peer.hello().type == "info"
        before = daemon.log.count("refused a message")
        for _ in range(2000):
            peer.send_frames([b"not a protocol message"])
        assert peer.hello().type == "info"  # after the flood: every bad message has been handled
        assert daemon.log.count("refused a message") - before <= BURST
    finally:
        peer.close()
