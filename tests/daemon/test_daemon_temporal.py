"""Temporal sequences on a real daemon over real ZeroMQ: the engine's own chain, restarts, resume, bad motion."""

import numpy as np
import pytest

from daemon_helpers import RawPeer, launch, to_image
from styleswap.daemon.wire import image_to_picture, picture_to_image
from styleswap.engine.flow import Motion
from styleswap.engine.stylize import Engine, Options
from styleswap.engine.temporal import TemporalState
from styleswap_client import DaemonError, motion_buffer
from styleswap_protocol import Message

SIDE = 64
SHIFT = 2  # pixels per frame the camera pans right: the content moves left
OPTIONS = {"method": "invnet", "max_size": SIDE, "style_size": 48, "match": "exact"}
# The daemon and this process run the same float32 engine on the same 16-bit frames, but with different torch thread
# counts, so sums may be added in another order: equal within float rounding, not bit for bit (measured: at most
# one step of the 16-bit results).
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, models):
    running = launch(tmp_path_factory.mktemp("daemon"), "--device", "cpu", "--precision", "float32")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def engine(models):
    return Engine("cpu", precision="float32")


@pytest.fixture(scope="module")
def scene(astronaut):
    return astronaut


@pytest.fixture(scope="module")
def style(chelsea):
    return to_image(np.ascontiguousarray(chelsea[::6, ::6]))


@pytest.fixture(scope="module")
def style_id(daemon, style):
    with daemon.client() as client:
        return client.upload_style(style)


def frame(scene: np.ndarray, n: int):
    """Frame ``n`` of the pan, as f32 RGB (the wire keeps it to 16 bits)."""
    pixels = scene[150 : 150 + SIDE, 180 + SHIFT * n : 180 + SHIFT * n + SIDE].astype(np.float32) / 255
    return to_image(np.ascontiguousarray(pixels))


def pan_motion() -> np.ndarray:
    """(H, W, 4): backward (the pixel was SHIFT to the right), then forward (the previous pixel went SHIFT left)."""
    motion = np.zeros((SIDE, SIDE, 4), np.float32)
    motion[..., 0], motion[..., 2] = SHIFT, -SHIFT
    return motion


def motion_image(motion: np.ndarray):
    return motion_buffer(motion.shape[1], motion.shape[0], motion.tobytes(), forward=motion.shape[2] == 4)


def pixels(image) -> np.ndarray:
    return np.frombuffer(image.data, np.float32).reshape(image.height, image.width, image.channels)


def chain(engine, scene, style, numbers, motion: bool, state: TemporalState | None):
    """The engine's own results for these frames, in this order, through ``state`` (None: frame by frame)."""
    options = Options(**OPTIONS)
    patches = engine.prepare_style(image_to_picture(style), options)
    out = {}
    for n in numbers:
        given = Motion(pan_motion()[..., :2], pan_motion()[..., 2:]) if motion and state is not None and state.frames else None
        result = engine.stylize(image_to_picture(frame(scene, n)), patches, options, temporal=state, motion=given)
        out[n] = pixels(picture_to_image(result.picture, "f32"))
    return out


def run(client, scene, style_id, numbers, motion: bool, **kwargs):
    received, summaries = {}, {}
    items = [(n, frame(scene, n), motion_image(pan_motion()) if motion else None) for n in numbers]
    result = client.run_sequence(
        items,
        lambda n, image: received.update({n: pixels(image).copy()}),
        style_id,
        OPTIONS,
        window=2,
        on_summary=lambda n, s: summaries.update({n: s}),
        **kwargs,
    )
    return result, received, summaries


@pytest.mark.parametrize("motion", [True, False], ids=["motion buffers", "estimated flow"])
def test_a_temporal_sequence_is_the_engines_own_chain(daemon, engine, scene, style, style_id, motion):
    with daemon.client() as client:
        result, received, summaries = run(client, scene, style_id, range(5), motion, temporal=True)
    assert result.frames == 5 and sorted(received) == list(range(5))
    expected = chain(engine, scene, style, range(5), motion, TemporalState())
    per_frame = chain(engine, scene, style, range(5), motion, None)
    for n in range(5):
        assert np.abs(received[n] - expected[n]).max() <= TOLERANCE, n
        if n:  # and the chain made a difference: per-frame results are not what came back
            assert np.abs(received[n] - per_frame[n]).mean() > 100 * TOLERANCE, n
    assert [summaries[n]["temporal"]["chain"] for n in range(5)] == [1, 2, 3, 4, 5]
    assert [summaries[n]["temporal"]["restart"] for n in range(5)] == ["first frame", None, None, None, None]
    assert min(summaries[n]["temporal"]["followed"] for n in range(1, 5)) > 0.8


def test_a_gap_restarts_the_chain_and_says_so(daemon, engine, scene, style, style_id):
    with daemon.client() as client:
        _, received, summaries = run(client, scene, style_id, [0, 1, 3, 4, 2], True, temporal=True)
    chains = {n: summaries[n]["temporal"]["chain"] for n in summaries}
    assert chains == {0: 1, 1: 2, 3: 1, 4: 2, 2: 1}
    assert summaries[3]["temporal"]["restart"] == "frame 3 does not follow frame 1 (a gap)"
    assert summaries[2]["temporal"]["restart"] == "frame 2 does not follow frame 4 (out of order)"
    assert summaries[4]["temporal"]["restart"] is None
    fresh = chain(engine, scene, style, [3, 4], True, TemporalState())  # the chain as it starts again at frame 3
    for n in (3, 4):
        assert np.abs(received[n] - fresh[n]).max() <= TOLERANCE, n


def test_a_resumed_sequence_keeps_the_chain(daemon, engine, scene, style, style_id):
    """The host goes away after frame 0's result, with frames 1 to 3 sent (done, running or parked by then), and comes
    back on a new connection with frames 4 and 5: every frame follows the one before, as in one unbroken chain."""
    first = RawPeer(daemon.info)
    buffers = [frame(scene, n).as_role("content") for n in range(4)] + [motion_image(pan_motion()).as_role("motion") for _ in range(3)]
    params = {"options": OPTIONS, "style_id": style_id, "temporal": True, "frames": [0, 1, 2, 3], "motion_frames": [1, 2, 3]}
    first.send(Message("sequence", "t1", params, tuple(buffers)))
    job_id, summaries = None, {}
    while not summaries:
        msg = first.recv_until(lambda m: m.type in ("ack", "frame_result", "error"), "the sequence's ack and first frame result")
        assert msg.type != "error", msg.params
        job_id = msg.params.get("job_id", job_id)
        if msg.type == "frame_result":
            summaries[msg.params["frame"]] = msg.params["summary"]
    first.close()

    with daemon.client() as client:
        resume_from = max(summaries) + 1
        _, received, later = run(client, scene, style_id, [4, 5], True, job_id=job_id, resume_from=resume_from)
    summaries.update(later)
    assert sorted(received) == list(range(resume_from, 6))
    expected = chain(engine, scene, style, range(6), True, TemporalState())
    for n in received:
        assert np.abs(received[n] - expected[n]).max() <= TOLERANCE, n
    for n, summary in summaries.items():  # held results sent again carry no summary: those of frames done meanwhile
        assert summary["temporal"]["chain"] == n + 1 and summary["temporal"]["restart"] == (None if n else "first frame"), (n, summary["temporal"])
    assert {4, 5} <= set(summaries)


BAD = [
    (
        "NaN",
        lambda m: np.where(np.arange(SIDE)[None, :, None] == 3, np.nan, m).astype(np.float32),
        "the motion of frame 1 is NaN or infinite at 64 pixels: send finite displacements in pixels",
    ),
    ("size", lambda m: np.ascontiguousarray(m[:-2]), f"the motion of frame 1 is {SIDE}x{SIDE - 2} but the frame is {SIDE}x{SIDE}"),
    (
        "channels",
        lambda m: np.ascontiguousarray(m[..., :3]),
        "the motion of frame 1 must be f32 with 2 channels (backward dx, dy) or 4 (backward, forward), not 3 channel(s) of f32",
    ),
    (
        "dtype",
        lambda m: np.zeros((SIDE, SIDE, 2), np.uint8),
        "the motion of frame 1 must be f32 with 2 channels (backward dx, dy) or 4 (backward, forward), not 2 channel(s) of u8",
    ),
]


@pytest.mark.parametrize("name,spoil,message", BAD, ids=[b[0] for b in BAD])
def test_bad_motion_is_refused_and_the_sequence_goes_on(daemon, scene, style_id, name, spoil, message):
    peer = RawPeer(daemon.info)
    try:
        create = peer.send(
            Message("sequence", "t2", {"options": OPTIONS, "style_id": style_id, "temporal": True, "frames": [0]}, (frame(scene, 0).as_role("content"),))
        )
        job_id = peer.reply_to(create.id).params["job_id"]
        bad = to_image(spoil(pan_motion())).as_role("motion")
        refused = peer.reply_to(
            peer.send(Message("sequence", "t2", {"job_id": job_id, "frames": [1], "motion_frames": [1]}, (frame(scene, 1).as_role("content"), bad))).id
        )
        assert refused.type == "error" and refused.params["code"] == "bad_params"
        assert refused.params["message"] == message
        good = motion_image(pan_motion()).as_role("motion")
        again = peer.send(
            Message("sequence", "t2", {"job_id": job_id, "frames": [1], "motion_frames": [1], "last": True}, (frame(scene, 1).as_role("content"), good))
        )
        assert peer.reply_to(again.id).type == "ack"
        results = {}
        while True:
            msg = peer.recv_until(lambda m: m.type in ("frame_result", "result", "error"), "the frames' results")
            assert msg.type != "error", msg.params
            if msg.type == "result":
                break
            results[msg.params["frame"]] = msg.params["summary"]["temporal"]
        assert results[1]["chain"] == 2 and results[1]["restart"] is None  # the refused request broke nothing
    finally:
        peer.close()


def test_motion_needs_a_temporal_sequence(daemon, scene, style_id):
    with daemon.client() as client, pytest.raises(DaemonError) as caught:
        run(client, scene, style_id, [0, 1], True)
    assert caught.value.code == "bad_params"
    assert caught.value.message == "motion buffers belong to a temporal sequence: create the sequence with temporal true"


def test_a_host_sends_frames_one_at_a_time(daemon, engine, scene, style, style_id):
    """What a render does: open the sequence, send each frame with its motion as it is made, close it."""
    expected = chain(engine, scene, style, range(3), True, TemporalState())
    with daemon.client() as client:
        job_id = client.open_sequence(style_id, OPTIONS, temporal=True)
        for n in range(3):
            image, summary = client.send_frame(job_id, n, frame(scene, n), motion_image(pan_motion()) if n else None)
            assert np.abs(pixels(image) - expected[n]).max() <= TOLERANCE, n
            assert summary["temporal"]["chain"] == n + 1
        assert client.close_sequence(job_id) == 3
        assert client.hello()["engine"]["jobs"] == 0
