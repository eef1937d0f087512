"""Sequence jobs: frames streamed back as they finish, windowed submission, resume after a lost connection."""

import numpy as np
import pytest

from daemon_helpers import TINY, RawPeer, picture, to_array, to_image, wait_until
from styleswap_client import DaemonError
from styleswap_protocol import Message


@pytest.fixture(scope="module")
def style_id(daemon):
    with daemon.client() as client:
        return client.upload_style(to_image(picture(32, 32, 3, seed=100)))


def frames(numbers):
    return [(n, to_image(picture(24, 16, 4, seed=n))) for n in numbers]


def test_frames_stream_back_with_progress(client, style_id):
    received, events = {}, []
    result = client.run_sequence(frames(range(7)), lambda n, image: received.update({n: to_array(image).copy()}), style_id, TINY, progress=events.append, window=3)
    assert result.frames == 7 and sorted(received) == list(range(7))
    for n, out in received.items():
        assert out.shape == (16, 24, 4)
        assert np.array_equal(out[..., 3], picture(24, 16, 4, seed=n)[..., 3])  # each result is its own frame's
    assert {e.frame for e in events} == set(range(7))
    for n in range(7):
        fractions = [e.fraction for e in events if e.frame == n]
        assert fractions == sorted(fractions) and fractions[-1] == 1.0
    done = [e.frames_done for e in events]
    assert done == sorted(done) and done[0] == 0 and done[-1] == 6


def test_empty_sequence_ends_at_once(client, style_id):
    assert client.run_sequence([], lambda n, image: None, style_id, TINY).frames == 0


def test_new_sequence_needs_options_and_a_known_style(client, style_id):
    with pytest.raises(DaemonError) as caught:
        client.run_sequence(frames([0]), lambda n, image: None, "f" * 32, TINY)
    assert caught.value.code == "unknown_style"
    with pytest.raises(DaemonError) as caught:
        client.run_sequence(frames([0]), lambda n, image: None, job_id="nope")
    assert caught.value.code == "unknown_job"


def test_resume_after_the_connection_is_lost(daemon, style_id):
    first = RawPeer(daemon.info)
    request = Message("sequence", "s1", {"options": TINY, "style_id": style_id, "frames": [0, 1, 2, 3]}, tuple(image.as_role("content") for _, image in frames(range(4))))
    first.send(request)
    job_id = None
    got_first = []
    while len(got_first) < 2:
        msg = first.recv_until(lambda m: m.type in ("ack", "frame_result"), "the sequence's ack and frame results")
        job_id = msg.params.get("job_id", job_id)
        if msg.type == "frame_result":
            got_first.append(msg.params["frame"])
    first.close()  # a crash: frames 2 and 3 may be done, running or parked

    received = []
    with daemon.client() as client:
        resume_from = max(got_first) + 1
        result = client.run_sequence(frames([3, 4, 5]), lambda n, image: received.append(n), job_id=job_id, resume_from=resume_from)
        assert sorted(received) == list(range(resume_from, 6))  # held frames resent, frame 3 not done twice
        assert result.frames == 6
        assert client.hello()["engine"]["jobs"] == 0


class Stop(Exception):
    pass


def test_a_sequence_cancelled_from_the_callback_ends_on_the_daemon(client, style_id):
    def stop(n, image):
        raise Stop

    with pytest.raises(Stop):
        client.run_sequence(frames(range(20)), stop, style_id, TINY, window=4)
    # the client waits a few seconds for the job's end; a running frame stops at the worker's next check
    wait_until(lambda: client.hello()["engine"]["jobs"] == 0, "the cancelled sequence ending on the daemon")
