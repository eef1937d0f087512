"""Temporal coherence on synthetic sequences: stable matching, the motion it follows, restarts and bad input."""

import numpy as np
import pytest
import torch

from int8_marks import needs_int8
from styleswap.engine import flow
from styleswap.engine.errors import StyleSwapError
from styleswap.engine.flow import Motion
from styleswap.engine.images import Picture
from styleswap.engine.stylize import Engine, Options
from styleswap.engine.temporal import TemporalState

SIDE = 96
SHIFT = 2  # pixels per frame: half a feature cell, so per-frame matching sees different activations each frame
OPTIONS = Options(max_size=SIDE, style_size=64)


def picture(pixels: np.ndarray) -> Picture:
    return Picture(np.ascontiguousarray(pixels, dtype=np.float32), None, 8)


@pytest.fixture(scope="module")
def engines():
    return {}


def engine(engines, precision: str) -> Engine:
    if precision not in engines:
        engines[precision] = Engine("cpu", precision=precision)
    return engines[precision]


@pytest.fixture(scope="module")
def scene(astronaut) -> np.ndarray:
    return astronaut.astype(np.float32) / 255


@pytest.fixture(scope="module")
def style(chelsea) -> Picture:
    return picture(chelsea[::4, ::4].astype(np.float32) / 255)


def sliding(scene: np.ndarray, count: int, shift: int = SHIFT) -> list[Picture]:
    """A camera panning right over the scene: each frame's content moves ``shift`` px left."""
    return [picture(scene[120 : 120 + SIDE, 150 + shift * i : 150 + shift * i + SIDE]) for i in range(count)]


def run(engine: Engine, frames: list[Picture], style: Picture, options: Options, state: TemporalState | None):
    patches = engine.prepare_style(style, options)
    return [engine.stylize(f, patches, options, temporal=state) for f in frames]


CASES = [("float32", "exact"), ("float32", "fast"), pytest.param("int8", "fast", marks=needs_int8)]


@pytest.mark.parametrize("precision,match", CASES)
def test_a_repeated_frame_gives_the_first_result_every_time(engines, scene, style, precision, match):
    options = Options(max_size=SIDE, style_size=64, match=match)
    results = run(engine(engines, precision), sliding(scene, 1) * 4, style, options, TemporalState())
    first = results[0].picture.rgb
    for result in results[1:]:
        assert result.temporal.restart is None and result.temporal.followed > 0.99 and result.temporal.kept > 0.99
        assert np.abs(result.picture.rgb - first).max() < 1e-3


@pytest.mark.parametrize("precision,match", CASES)
def test_a_still_scene_with_sensor_noise_stays_still(engines, scene, style, precision, match):
    """Noise of 1 % flips near-tied patches frame by frame; the stable chain holds them (and blends the rest)."""
    rng = np.random.default_rng(0)
    still = sliding(scene, 1)[0].rgb
    frames = [picture(np.clip(still + rng.normal(0, 0.01, still.shape), 0, 1)) for _ in range(4)]
    options = Options(max_size=SIDE, style_size=64, match=match)

    def change(results):
        return np.mean([np.abs(r.picture.rgb - results[0].picture.rgb).mean() for r in results[1:]])

    per_frame = change(run(engine(engines, precision), frames, style, options, None))
    temporal = run(engine(engines, precision), frames, style, options, TemporalState())
    assert all(r.temporal.restart is None and r.temporal.kept > 0.9 for r in temporal[1:])
    assert change(temporal) < 0.4 * per_frame


@pytest.mark.parametrize("precision,match", CASES)
def test_a_pan_moves_the_result_with_the_content(engines, scene, style, precision, match):
    """Frame t shows at x what frame t-1 showed at x + SHIFT: the stylised frames must too, away from the borders."""
    options = Options(max_size=SIDE, style_size=64, match=match)
    frames = sliding(scene, 4)
    m = 16

    def drift(results):
        images = [r.picture.rgb for r in results]
        return np.mean([np.abs(b[m:-m, m:-m] - a[m:-m, m + SHIFT : -m + SHIFT]).mean() for a, b in zip(images, images[1:])])

    per_frame = drift(run(engine(engines, precision), frames, style, options, None))
    temporal = run(engine(engines, precision), frames, style, options, TemporalState())
    assert all(r.temporal.restart is None and r.temporal.followed > 0.9 for r in temporal[1:])
    assert drift(temporal) < 0.5 * per_frame, (drift(temporal), per_frame)


def test_flow_finds_a_pan_and_the_strip_it_uncovers(scene):
    previous, current = (f.rgb for f in sliding(scene, 2))
    motion = flow.estimate(previous, current)
    inner = motion.backward[16:-16, 16:-16]
    assert np.abs(inner[..., 0] - SHIFT).mean() < 0.25 and np.abs(inner[..., 1]).mean() < 0.25
    trusted = flow.reliable(motion, *(torch.from_numpy(f).permute(2, 0, 1)[None] for f in (previous, current))).numpy()
    assert trusted[:, -SHIFT:].mean() == 0  # came from beyond the previous frame's right edge
    assert trusted[16:-16, 16:-16].mean() > 0.95


def test_forward_backward_disagreement_marks_occlusion():
    """A given motion: a block moving right over a still background; its trailing edge is uncovered, so the backward
    motion there (zero: background) disagrees with the forward motion of the block that stood there."""
    size, step = 48, 6
    rgb = np.zeros((size, size, 3), np.float32)
    backward, forward = np.zeros((size, size, 2), np.float32), np.zeros((size, size, 2), np.float32)
    backward[16:32, 16 + step : 32 + step, 0] = -step  # the block now at columns 22-37 came from 16-31
    forward[16:32, 16:32, 0] = step
    tensor = torch.from_numpy(rgb).permute(2, 0, 1)[None]
    trusted = flow.reliable(Motion(backward, forward), tensor, tensor).numpy()
    assert not trusted[16:32, 16 : 16 + step].any()  # uncovered background: forward says the block left it
    assert trusted[16:32, 16 + step : 32 + step].all() and trusted[:16].all()
    assert flow.reliable(Motion(backward), tensor, tensor).numpy()[16:32, 16 : 16 + step].all()  # no forward: colours alone


def test_a_scene_cut_restarts_the_chain(engines, scene, style, chelsea):
    first, second = sliding(scene, 2)
    cut = picture(chelsea[:SIDE, :SIDE].astype(np.float32) / 255)
    eng = engine(engines, "float32")
    results = run(eng, [first, second, cut], style, OPTIONS, TemporalState())
    assert [r.temporal.restart for r in results] == ["first frame", None, "scene cut"]
    assert results[2].temporal.followed < 0.2 and results[2].temporal.chain == 1
    alone = run(eng, [cut], style, OPTIONS, None)[0]
    np.testing.assert_allclose(results[2].picture.rgb, alone.picture.rgb, atol=1e-5)


def test_bad_motion_and_sizes_are_refused_and_the_chain_goes_on(engines, scene, style):
    eng = engine(engines, "float32")
    patches = eng.prepare_style(style, OPTIONS)
    frames = sliding(scene, 3)
    state = TemporalState()
    eng.stylize(frames[0], patches, OPTIONS, temporal=state)
    nan = np.zeros((SIDE, SIDE, 2), np.float32)
    nan[3, 4] = np.nan
    for motion, message in (
        (Motion(np.zeros((10, 12, 2), np.float32)), "the backward motion is 12x10 but the frame is 96x96"),
        (Motion(nan), "the backward motion is NaN or infinite at 1 pixels"),
        (Motion(np.zeros((SIDE, SIDE, 2), np.float32), np.zeros((SIDE, SIDE), np.float32)), "the forward motion must be (height, width, 2)"),
    ):
        with pytest.raises(StyleSwapError, match=message.replace("(", r"\(").replace(")", r"\)")):
            eng.stylize(frames[1], patches, OPTIONS, temporal=state, motion=motion)
    with pytest.raises(StyleSwapError, match="the frame is 64x96 but the sequence's frames are 96x96"):
        eng.stylize(picture(frames[1].rgb[:, :64]), patches, OPTIONS, temporal=state)
    assert state.frames == 1  # nothing was lost: the next good frame follows the first
    given = Motion(np.full((SIDE, SIDE, 2), [SHIFT, 0], np.float32))
    result = eng.stylize(frames[1], patches, OPTIONS, temporal=state, motion=given)
    assert result.temporal.restart is None and result.temporal.chain == 2 and result.temporal.kept > 0.5
    smaller = eng.stylize(frames[2], patches, Options(max_size=64, style_size=64), temporal=state)  # another working size
    assert smaller.temporal.restart == "working size changed" and smaller.temporal.chain == 1
    for margin, blend in ((-0.1, 0.5), (0.02, 1.0)):
        with pytest.raises(StyleSwapError, match="temporal"):
            TemporalState(margin, blend)


def test_a_snapshot_restores_the_chain_exactly(engines, scene, style):
    eng = engine(engines, "float32")
    patches = eng.prepare_style(style, OPTIONS)
    frames = sliding(scene, 3)
    state = TemporalState()
    for f in frames[:2]:
        eng.stylize(f, patches, OPTIONS, temporal=state)
    restored = TemporalState.restore(state.snapshot())
    a = eng.stylize(frames[2], patches, OPTIONS, temporal=state)
    b = eng.stylize(frames[2], patches, OPTIONS, temporal=restored)
    assert b.temporal.chain == 3 and np.array_equal(a.picture.rgb, b.picture.rgb)


@pytest.mark.parametrize("stride", [1, 2])
def test_correlations_are_the_cosines_matching_maximises(stride):
    from styleswap.engine.swap import match_scores, patch_rows, prepare_style
    from styleswap.engine.temporal import correlations

    generator = torch.Generator().manual_seed(0)
    style = prepare_style(torch.rand(1, 8, 12, 14, generator=generator), 3, stride)
    content = torch.rand(1, 8, 11, 13, generator=generator).contiguous(memory_format=torch.channels_last)
    count = ((11 - 3) // stride + 1) * ((13 - 3) // stride + 1)
    chosen, other = (torch.randint(0, style.count, (count,), generator=generator) for _ in range(2))
    norms = patch_rows(content, 3, stride).norm(dim=1)
    some = torch.tensor([0, 3, count - 1])
    for budget in (2**10, 2**20):  # one patch at a time, all at once
        scores = correlations(content, style, some, [chosen, other], budget)
        for got, choice in zip(scores, (chosen, other)):
            torch.testing.assert_close(got, (match_scores(content, style, choice) / norms)[some])
