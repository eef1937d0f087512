"""Requests to a real daemon subprocess over 127.0.0.1, answered by the real engine."""

import threading
import time

import numpy as np
import pytest
import torch

from daemon_helpers import SLOW, TINY, RawPeer, picture, to_array, to_image, wait_until
from int8_marks import machine_has_int8
from styleswap.engine.images import Picture
from styleswap.engine.stylize import Engine, Options
from styleswap_client import DaemonError
from styleswap_protocol import Message


def test_hello_describes_the_daemon(daemon, client):
    info = client.hello()
    assert info["protocol"] == 2 and info["pid"] == daemon.process.pid
    assert info["daemon_version"] == daemon.info.version
    engine = info["engine"]
    assert engine["device"] == "cpu" and engine["state"] == "idle"  # no job of this client's: none queued or running
    assert engine["precision"] == ("int8" if machine_has_int8() else "float32")  # auto on a CPU
    assert "vgg19-normalised/relu3_1/max on cpu" in engine["models"]
    assert engine["memory"]["rss_bytes"] > 100 * 2**20  # torch and VGG are resident
    assert info["max_pixels"] == info["limits"]["max_pixels"] > 3840 * 2160


def test_stylize_reports_progress_and_keeps_size_and_alpha(client):
    content = picture(40, 24, 4, seed=3)
    events = []
    result = client.stylize(to_image(content), to_image(picture(32, 32, 3, seed=4)), {**TINY, "iters": 3}, progress=events.append)
    out = to_array(result.image)
    assert out.shape == (24, 40, 4) and out.dtype == np.uint8
    assert np.array_equal(out[..., 3], content[..., 3])
    assert not np.array_equal(out[..., :3], content[..., :3])
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and 0.0 <= fractions[0] < 0.2
    assert {e.stage for e in events} == {"encode", "swap", "reconstruct"}
    assert [e.stage_fraction for e in events if e.stage == "reconstruct"][-3:] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert result.summary["device"] == "cpu" and result.summary["working_size"] == [32, 19]
    assert result.warnings == []


def test_result_matches_the_engine_run_in_process(client, models):
    content, style = picture(32, 32, 3, seed=5), picture(32, 32, 3, seed=6)
    result = client.stylize(to_image(content), to_image(style), TINY)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the daemon runs; given back, so later tests in this process keep their threads
    try:
        local = Engine("cpu").stylize(Picture.from_array(content), Picture.from_array(style), Options(**TINY))
    finally:
        torch.set_num_threads(threads)
    difference = np.abs(to_array(result.image).astype(int) - local.picture.to_array().astype(int))
    assert difference.max() <= 1  # the same computation; at most a rounding step apart
    assert result.summary["objective"] == pytest.approx(local.objective, rel=1e-4)


def test_16_bit_and_float_images_come_back_in_their_own_dtype(client):
    style = to_image(picture(32, 32, 3, seed=7))
    wide = picture(24, 24, 2, "u16", seed=8)
    out = to_array(client.stylize(to_image(wide), style, TINY).image)
    assert out.dtype == np.uint16 and out.shape == (24, 24, 4)
    assert np.array_equal(out[..., 3], wide[..., 1])
    floats = picture(24, 24, 4, "f32", seed=9)
    out = to_array(client.stylize(to_image(floats), style, TINY).image)
    assert out.dtype == np.float32 and out.shape == (24, 24, 4)
    assert np.abs(out[..., 3] - floats[..., 3]).max() <= 0.5 / 65535 + 1e-7  # alpha kept to 16 bits


def test_uploaded_style_gives_the_same_result_as_sending_it_inline(client):
    style, content = to_image(picture(32, 32, 3, seed=10)), to_image(picture(32, 32, 3, seed=11))
    style_id = client.upload_style(style)
    assert client.upload_style(to_image(picture(32, 32, 3, seed=10))) == style_id
    assert client.upload_style(to_image(picture(32, 32, 3, seed=12))) != style_id
    by_id = client.stylize(content, style_id, TINY)
    inline = client.stylize(content, style, TINY)
    assert bytes(by_id.image.data) == bytes(inline.image.data)
    assert client.hello()["engine"]["styles_cached"] >= 2


def test_unknown_style_id(client):
    with pytest.raises(DaemonError) as caught:
        client.stylize(to_image(picture(32, 32, 3)), "0" * 32, TINY)
    assert caught.value.code == "unknown_style" and "upload it again" in caught.value.message


@pytest.mark.parametrize(
    ("options", "message"),
    [({"iters": "many"}, "iters must be a whole number"), ({"patch_size": 0}, "patch-size"), ({"colour": True}, "unknown params ['colour']"), ({"max_size": 8}, "max-size")],
)
def test_bad_options_get_bad_params(client, options, message):
    with pytest.raises(DaemonError) as caught:
        client.stylize(to_image(picture(32, 32, 3)), to_image(picture(32, 32, 3)), options)
    assert caught.value.code == "bad_params" and message in caught.value.message


def test_image_too_small_for_the_engine_is_refused_before_queueing(client):
    with pytest.raises(DaemonError) as caught:
        client.stylize(to_image(picture(8, 40, 3)), to_image(picture(32, 32, 3)), TINY)
    assert caught.value.code == "bad_params" and "both sides need at least 16 px" in caught.value.message


def test_wrong_buffer_count_and_unknown_type(daemon):
    peer = RawPeer(daemon.info)
    try:
        content, style = to_image(picture(16, 16, 3)).as_role("content"), to_image(picture(16, 16, 3)).as_role("style")
        reply = peer.reply_to(peer.send(Message("stylize", "s", {"options": {}}, (content,))).id)
        assert reply.type == "error" and reply.params["code"] == "bad_params" and "style buffer or as a style_id, not neither" in reply.params["message"]
        reply = peer.reply_to(peer.send(Message("stylize", "s", {"options": {}}, (content, content, style))).id)
        assert reply.params["code"] == "bad_params" and "stylize takes 1 content buffer(s); got 2" in reply.params["message"]
        reply = peer.reply_to(peer.send(Message("stylize", "s", {"options": {}}, (to_image(picture(16, 16, 3)), style))).id)  # by role, never by position
        assert reply.params["code"] == "bad_params" and "got buffers with role (none)" in reply.params["message"]
        reply = peer.reply_to(peer.send(Message("shutdown", "s", {}, (content,))).id)  # refused, so the daemon goes on
        assert reply.params["code"] == "bad_params" and "shutdown takes no buffers; got buffers with role content" in reply.params["message"]
        reply = peer.reply_to(peer.send(Message("render", "s")).id)
        assert reply.params["code"] == "unknown_type" and "'render'" in reply.params["message"]
        reply = peer.reply_to(peer.send(Message("info", "s")).id)  # a reply type is not a request
        assert reply.params["code"] == "unknown_type"
    finally:
        peer.close()


def test_a_crash_inside_a_job_is_that_clients_error_and_the_daemon_goes_on(client):
    content, style = to_image(picture(32, 32, 3)), to_image(picture(32, 32, 3))
    with pytest.raises(DaemonError) as caught:  # torch cannot seed a generator with 2**70: a real crash mid-job
        client.stylize(content, style, {**TINY, "init": "random", "seed": 2**70})
    assert caught.value.code == "engine_failed" and "Overflow" in caught.value.message
    assert "Traceback" in caught.value.detail["traceback"]
    assert client.hello()["engine"]["state"] == "error"
    assert client.stylize(content, style, TINY).image.width == 32
    assert client.hello()["engine"]["state"] == "idle"  # a success clears the error state


class Stop(Exception):
    pass


def test_progress_events_move_in_proportion_to_the_work(client):
    """At a size that tiles and bands, each tile and block of matched positions is an event (once a stage's end was)."""
    events = []
    options = {"max_size": 640, "style_size": 256, "match": "exact", "memory_budget": 16 * 2**20}
    client.stylize(to_image(picture(900, 600, 3)), to_image(picture(256, 170, 3, seed=1)), options, progress=events.append)
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert len(set(fractions)) >= 20 and max(np.diff(fractions)) <= 0.15  # one of 6 tiles of a stage at most (once 0.85)


def test_progress_events_are_few_however_many_the_steps(client):
    """2000 optimisation steps report 2000 times to the daemon, which sends an event per 0.5 % of the image (or per
    0.5 s of a slow stretch, so the count allowed grows with the time taken, never failing a slow machine)."""
    events = []
    started = time.monotonic()
    client.stylize(to_image(picture(32, 32, 3)), to_image(picture(32, 32, 3, seed=1)), {**TINY, "iters": 2000}, progress=events.append)
    elapsed = time.monotonic() - started
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert len(events) <= 1 / 0.005 + 3 + elapsed / 0.5 + 1, (len(events), elapsed)
    assert len(events) < 2000


def test_a_raising_progress_callback_cancels_the_job_within_a_chunk(client):
    seen = []

    def stop_at_reconstruction(event):
        seen.append(event)
        if event.stage == "reconstruct":
            raise Stop

    with pytest.raises(Stop):  # 100000 iterations: minutes, so a cancel that did not arrive fails on jobs below
        client.stylize(to_image(picture(64, 64, 3)), to_image(picture(32, 32, 3)), SLOW, progress=stop_at_reconstruction)
    # the client waits a few seconds for the job's end: a loaded machine may take longer to reach the next check
    wait_until(lambda: client.hello()["engine"]["jobs"] == 0, "the cancelled job ending on the daemon")
    assert sum(e.stage == "reconstruct" for e in seen) == 1


def test_cancel_by_job_id_from_another_thread(client):
    job_ids = []

    def cancel_once(event):
        if not job_ids:
            job_ids.append(event.job_id)
            threading.Thread(target=client.cancel, args=(event.job_id,)).start()

    with pytest.raises(DaemonError) as caught:
        client.stylize(to_image(picture(64, 64, 3)), to_image(picture(32, 32, 3)), SLOW, progress=cancel_once)
    assert caught.value.code == "cancelled" and caught.value.job_id == job_ids[0]
    with pytest.raises(DaemonError) as caught:
        client.cancel(job_ids[0])
    assert caught.value.code == "unknown_job"


def test_the_style_cache_counts_the_clusters_fast_matching_adds(client):
    content, style = to_image(picture(32, 32, 3, seed=21)), to_image(picture(32, 32, 3, seed=22))
    client.stylize(content, style, {**TINY, "match": "exact"})
    before = client.hello()["engine"]["memory"]["style_cache_bytes"]
    client.stylize(content, style, {**TINY, "match": "fast"})  # the same prepared style, now clustered
    extra = client.hello()["engine"]["memory"]["style_cache_bytes"] - before
    # 36 patches: order and rows (int64), then the centres; with int8 also every patch and centre as int8 codes
    # with a float32 scale each
    dim, int8 = 256 * 9, machine_has_int8()
    centres, rest = divmod(extra - 2 * 36 * 8 - int8 * 36 * (dim + 4), dim * 4 + int8 * (dim + 4))
    assert rest == 0 and 1 <= centres <= 12  # at most 2·√36 clusters


def test_a_mask_buffer_limits_the_stylisation_to_where_it_is_set(client):
    content, style = picture(48, 40, 3), to_image(picture(32, 32, 3, seed=1))
    half = np.zeros((40, 48, 1), np.uint8)
    half[:, 24:] = 255
    result = to_array(client.stylize(to_image(content), style, TINY, mask=to_image(half)).image)
    assert np.array_equal(result[:, :24], content[:, :24])  # unmasked: the content bit for bit
    assert np.abs(result[:, 24:].astype(int) - content[:, 24:]).mean() > 5
    with pytest.raises(DaemonError) as caught:
        client.stylize(to_image(content), style, TINY, mask=to_image(half[:20]))
    assert caught.value.code == "bad_params" and "one channel of the content's size (48x40)" in caught.value.message
