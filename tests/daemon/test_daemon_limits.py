"""Configurable limits, each answered with a clear error; the daemon keeps serving afterwards."""

import pytest

from daemon_helpers import SLOW, TINY, RawPeer, picture, to_image, wait_until
from styleswap_client import DaemonError
from styleswap_protocol import Message

STYLE_CACHE_BYTES = 8388  # two 32x32 RGB styles (3072 bytes each), not three


@pytest.fixture(scope="module")
def strict(tmp_path_factory, models):
    from daemon_helpers import launch

    running = launch(
        tmp_path_factory.mktemp("strict"),
        "--max-pixels", "100000", "--max-queued-jobs", "2", "--max-pending-frames", "4",
        "--style-cache-mb", str(STYLE_CACHE_BYTES / 2**20), "--orphan-grace", "1", "--precision", "bfloat16",
    )  # fmt: skip
    yield running
    running.stop()


@pytest.fixture(scope="module")
def impatient(tmp_path_factory, models):
    """A daemon whose images may run 3 s: only for the test of that limit, whose images run for minutes.
    Every other test here runs on `strict`, with the default limit, so a slow machine cannot fail them."""
    from daemon_helpers import launch

    running = launch(tmp_path_factory.mktemp("impatient"), "--max-queued-jobs", "2", "--request-timeout", "3")
    yield running
    running.stop()


def test_limits_and_precision_are_published(strict):
    with strict.client() as client:
        info = client.hello()
    assert info["engine"]["precision"] == "bfloat16"
    assert info["max_pixels"] == 100000
    assert info["limits"] == {**info["limits"], "max_queued_jobs": 2, "max_pending_frames": 4, "style_cache_bytes": STYLE_CACHE_BYTES}


def test_an_image_over_max_pixels_is_refused(strict):
    with strict.client() as client:
        with pytest.raises(DaemonError) as caught:
            client.stylize(to_image(picture(400, 300, 3)), to_image(picture(32, 32, 3)), TINY)
        assert caught.value.code == "bad_buffer" and "120000 pixels exceeds the limit of 100000" in caught.value.message
        assert client.stylize(to_image(picture(200, 150, 3)), to_image(picture(32, 32, 3)), TINY).image.width == 200


def test_a_full_queue_says_busy_and_a_long_image_times_out(impatient):
    peer = RawPeer(impatient.info)
    style = to_image(picture(32, 32, 3))
    try:
        sent = [peer.send(Message("stylize", "p", {"options": SLOW}, (to_image(picture(64, 64, 3, seed=i)).as_role("content"), style.as_role("style")))) for i in range(3)]
        assert peer.reply_to(sent[0].id).type == "ack" and peer.reply_to(sent[1].id).type == "ack"
        busy = peer.reply_to(sent[2].id)
        assert busy.params["code"] == "busy" and busy.params["detail"] == {"jobs": 2, "limit": 2}
        # SLOW runs for minutes: an error within the deadline is the daemon's own limit at work
        msg = peer.recv_until(lambda m: m.type == "error", "the first job's error")
        assert msg.params["code"] == "timeout" and "limit of 3 s" in msg.params["message"]
    finally:
        peer.close()


def test_too_many_pending_frames_is_busy(strict):
    with strict.client() as client:
        style_id = client.upload_style(to_image(picture(32, 32, 3, seed=50)))
        with pytest.raises(DaemonError) as caught:
            client.run_sequence([(n, to_image(picture(16, 16, 3, seed=n))) for n in range(5)], lambda n, image: None, style_id, TINY, window=5)
        assert caught.value.code == "busy" and "the limit is 4" in caught.value.message
        assert client.run_sequence([(n, to_image(picture(16, 16, 3, seed=n))) for n in range(5)], lambda n, image: None, style_id, TINY, window=4).frames == 5


def test_the_style_cache_is_bounded_in_bytes(strict):
    with strict.client() as client:
        ids = [client.upload_style(to_image(picture(32, 32, 3, seed=60 + i))) for i in range(3)]
        with pytest.raises(DaemonError) as caught:
            client.stylize(to_image(picture(16, 16, 3)), ids[0], TINY)  # the least recently used went
        assert caught.value.code == "unknown_style"
        assert client.stylize(to_image(picture(16, 16, 3)), ids[2], TINY).image.width == 16
        assert client.hello()["engine"]["memory"]["style_cache_bytes"] <= STYLE_CACHE_BYTES
        with pytest.raises(DaemonError) as caught:
            client.upload_style(to_image(picture(64, 64, 3)))
        assert caught.value.code == "bad_params" and "more than the daemon's style cache" in caught.value.message


def test_a_sequence_whose_client_vanished_is_dropped_after_the_grace(strict):
    with strict.client() as client:
        style_id = client.upload_style(to_image(picture(32, 32, 3, seed=70)))
    peer = RawPeer(strict.info)
    request = peer.send(Message("sequence", "p", {"options": TINY, "style_id": style_id, "frames": [0]}, (to_image(picture(16, 16, 3)).as_role("content"),)))
    job_id = peer.reply_to(request.id).params["job_id"]
    peer.close()
    wait_until(lambda: f"sequence {job_id} dropped" in strict.log, "the vanished client's sequence being dropped")
    assert f"sequence {job_id} lost its client" in strict.log and f"sequence {job_id} dropped: not resumed within 1 s" in strict.log
    with strict.client() as client:
        with pytest.raises(DaemonError) as caught:
            client.run_sequence([], lambda n, image: None, job_id=job_id, resume_from=0)
        assert caught.value.code == "unknown_job"
