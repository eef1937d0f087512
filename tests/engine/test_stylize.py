import numpy as np
import pytest
import torch

from int8_marks import needs_int8
from styleswap.engine.errors import StyleSwapError
from styleswap.engine.images import Picture
from styleswap.engine.stylize import Engine, Options, _check_patch_bank, fit_within

FAST = dict(method="optim", max_size=96, style_size=96, iters=30)


@pytest.fixture(scope="module")
def engine(models):
    return Engine("cpu")


@pytest.fixture(scope="module")
def content(chelsea):
    """An RGBA picture of odd size (not a multiple of 4) with a real alpha ramp."""
    pixels = chelsea[:77, :93]
    alpha = np.tile(np.linspace(0, 255, 93, dtype=np.uint8), (77, 1))
    return Picture.from_array(np.dstack([pixels, alpha]))


@pytest.fixture(scope="module")
def style(astronaut):
    return Picture.from_array(astronaut[::4, ::4])


def test_result_keeps_size_and_alpha_and_lowers_the_objective(engine, content, style):
    result = engine.stylize(content, style, Options(**FAST))
    assert result.picture.size == content.size == (93, 77)
    assert np.array_equal(result.picture.alpha, content.alpha)
    assert result.objective < 0.6 * result.content_objective
    assert np.abs(result.picture.rgb - content.rgb).mean() > 0.03  # visibly stylised
    assert set(result.timings) == {"encode", "swap", "reconstruct", "total"}


def test_more_iterations_lower_the_objective(engine, content, style):
    few = engine.stylize(content, style, Options(**{**FAST, "iters": 5}))
    many = engine.stylize(content, style, Options(**FAST))
    assert many.objective < few.objective


def test_max_size_processes_smaller_but_returns_full_size(engine, style, chelsea):
    big = Picture.from_array(chelsea)
    result = engine.stylize(big, style, Options(**{**FAST, "iters": 2, "max_size": 64}))
    assert result.working_size == (64, 43)
    assert result.picture.size == (451, 300)


def test_strength_zero_targets_the_content_features(engine, content, style):
    """With no style and no smoothing the content image is already optimal: the optimiser must leave it alone."""
    result = engine.stylize(content, style, Options(**{**FAST, "iters": 2, "strength": 0.0, "tv": 0.0}))
    assert result.content_objective == 0.0
    assert np.abs(result.picture.rgb - content.rgb).max() < 1e-5


def test_preserve_color_keeps_content_chroma(engine, content, style):
    def chroma(rgb):
        return rgb - rgb.mean(axis=2, keepdims=True)

    plain = engine.stylize(content, style, Options(**FAST))
    kept = engine.stylize(content, style, Options(**FAST, preserve_color=True))
    error_plain = np.abs(chroma(plain.picture.rgb) - chroma(content.rgb)).mean()
    error_kept = np.abs(chroma(kept.picture.rgb) - chroma(content.rgb)).mean()
    assert error_kept < 0.5 * error_plain


def test_random_init_is_seeded(engine, content, style):
    options = Options(**{**FAST, "iters": 3, "init": "random"})
    first = engine.stylize(content, style, options).picture.rgb
    again = engine.stylize(content, style, options).picture.rgb
    other = engine.stylize(content, style, Options(**{**FAST, "iters": 3, "init": "random", "seed": 1})).picture.rgb
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_prepared_style_is_reusable(engine, content, style):
    options = Options(**{**FAST, "iters": 3})
    prepared = engine.prepare_style(style, options)
    assert np.array_equal(engine.stylize(content, prepared, options).picture.rgb, engine.stylize(content, style, options).picture.rgb)


def test_cancel_from_progress_callback(engine, content, style):
    class Stop(Exception):
        pass

    seen = []

    def progress(stage, fraction, done):
        seen.append(stage)
        if stage == "reconstruct" and fraction > 0.1:
            raise Stop

    with pytest.raises(Stop):
        engine.stylize(content, style, Options(**FAST), progress)
    assert seen[:2] == ["encode", "encode"] and seen.count("reconstruct") < 10


@pytest.mark.parametrize(
    "bad,message",
    [({"patch_size": 0}, "patch-size"), ({"stride": 4}, "stride"), ({"strength": 1.5}, "strength"), ({"method": "magic"}, "method"), ({"iters": 0}, "iters")],
)
def test_bad_options(engine, content, style, bad, message):
    with pytest.raises(StyleSwapError, match=message):
        engine.stylize(content, style, Options(**{**FAST, **bad}))


def test_a_patch_bank_too_large_for_memory_is_refused_before_it_is_made():
    features = torch.empty(1, 256, 1, 1).expand(1, 256, 600, 600)  # the shape of a large style's activations, no memory
    with pytest.raises(StyleSwapError, match=r"the style's 288369 patches of 64x64 would take 2252\.9 GB with .* GB free: lower the patch size"):
        _check_patch_bank(features, 64, 1, torch.device("cpu"))
    _check_patch_bank(features[..., :100, :100], 3, 1, torch.device("cpu"))  # 9604 patches of 3x3: 170 MB


def test_tiny_images_are_refused():
    with pytest.raises(StyleSwapError, match="too small"):
        fit_within((8, 200), 1024)
    assert fit_within((4000, 3000), 1000) == (1000, 750)
    assert fit_within((400, 300), 1000) == (400, 300)
    assert fit_within((108, 24), 64) == (72, 16)  # thin: scaled only as far as 16 px on the short side
    assert fit_within((24, 4000), 1000) == (16, 2667)


@pytest.mark.parametrize(("precision", "mean_change", "objective_change"), [("float16", 0.005, 0.02), ("bfloat16", 0.03, 0.02), pytest.param("int8", 0.02, 0.03, marks=needs_int8)])
@pytest.mark.parametrize("match", ["exact", "fast"])
def test_reduced_precision_keeps_the_result(chelsea, astronaut, precision, mean_change, objective_change, match):
    """The half-precision path (CUDA's default) run on the CPU: the same picture within rounding, scored as well, and
    float32 out; optimisation from it still works in float32. int8 changes which patch wins a near tie, so more
    pixels move a little, and the swap objective hardly."""
    content, style = Picture.from_array(chelsea), Picture.from_array(astronaut[::2, ::2])
    options = Options(max_size=160, style_size=128, match=match, score=True)
    full = Engine("cpu", precision="float32")
    reference = full.stylize(content, style, options)
    reduced = Engine("cpu", precision=precision)
    result = reduced.stylize(content, style, options)
    assert reduced.encode(reduced.working_image(style, 64, options)[0], options).dtype == reduced.dtype
    assert result.picture.rgb.dtype == np.float32
    assert 0 < np.abs(result.picture.rgb - reference.picture.rgb).mean() < mean_change * (2 if match == "fast" else 1)  # k-means in it too
    assert abs(result.objective - reference.objective) < objective_change * reference.objective
    refine = Options(method="invnet+optim", iters=10, max_size=96, style_size=96)
    assert abs(reduced.stylize(content, style, refine).objective - full.stylize(content, style, refine).objective) < objective_change * reference.objective


@needs_int8
def test_int8_content_is_blended_and_scored_in_float32(chelsea, astronaut):
    """With int8 the content activations only choose patches: the strength blend and the content's own objective
    use float32 activations, so strength 0 reproduces the content's features exactly."""
    content, style = Picture.from_array(chelsea), Picture.from_array(astronaut[::2, ::2])
    int8, full = Engine("cpu", precision="int8"), Engine("cpu", precision="float32")
    options = Options(max_size=96, style_size=96, strength=0.0, score=True)
    assert int8.stylize(content, style, options).content_objective == 0.0
    half = Options(max_size=96, style_size=96, strength=0.5, score=True)
    assert np.abs(int8.stylize(content, style, half).picture.rgb - full.stylize(content, style, half).picture.rgb).mean() < 0.01


MAX_JUMP = 0.15  # of the whole image between two reports here: one of 6 tiles of a stage of at most 3/4 of the work (once 0.85)


@pytest.mark.parametrize("match", ["exact", "fast"])
def test_progress_moves_in_proportion_to_the_work(engine, chelsea, style, match):
    content = Picture.from_array(np.tile(chelsea, (2, 2, 1)))  # 902x600, worked at 640x426: 6 tiles of 256 px
    options = Options(max_size=640, style_size=256, match=match, memory_budget=16 * 2**20)
    events = []
    engine.stylize(content, style, options, lambda stage, fraction, done: events.append((stage, fraction, done)))
    done = [d for _, _, d in events]
    assert done == sorted(done) and done[0] == 0.0 and done[-1] == 1.0
    assert [stage for stage, _, _ in events] == sorted((stage for stage, _, _ in events), key=["encode", "swap", "reconstruct"].index)
    for stage in ("encode", "swap", "reconstruct"):  # every stage reports its chunks, not only its end
        assert len({f for s, f, _ in events if s == stage and 0 < f < 1}) >= 4, stage
    jumps = np.diff(done)
    assert jumps.max() <= MAX_JUMP, f"a jump of {jumps.max():.2f} in {[round(d, 3) for d in done]}"
