"""The int8 encoder that chooses patches on x86 CPUs with VNNI: close to the float encoder, tiled exactly, and its
calibration (the command that writes it is tested with the inverse network's, in test_int8_inverse)."""

import pytest
import torch

from int8_marks import needs_int8
from styleswap.engine.approx_match import match_approx
from styleswap.engine.errors import StyleSwapError
from styleswap.engine.images import Picture
from styleswap.engine.int8_encoder import Int8Encoder, calibrate, load_scales
from styleswap.engine.stylize import Engine, Options
from styleswap.engine.swap import match, match_scores, prepare_style

pytestmark = needs_int8


@pytest.fixture(scope="module")
def engine(models):
    return Engine("cpu", precision="int8")


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


def test_int8_activations_are_close_to_float_everywhere_including_the_edges(engine, astronaut, chelsea):
    options = Options()
    for picture in (astronaut, chelsea):
        rgb, _ = engine.working_image(Picture.from_array(picture), 192, options)
        exact, rounded = engine.encode(rgb, options), engine.int8_encoder(options)(rgb)
        assert rounded.shape == exact.shape and rounded.dtype == torch.float32
        assert 0 < _relative(rounded, exact) < 0.1
        edges = [(..., 0, slice(None)), (..., -1, slice(None)), (..., 0), (..., -1)]
        assert max(_relative(rounded[edge], exact[edge]) for edge in edges) < 0.12  # padded as the float encoder pads


def test_only_the_calibrated_encoder_runs_in_int8(engine):
    assert isinstance(engine.int8_encoder(Options()), Int8Encoder)
    assert engine.int8_encoder(Options(pooling="avg", method="optim")) is None and engine.int8_encoder(Options(encoder="vgg19", method="optim")) is None
    assert Engine("cpu", precision="float32").int8_encoder(Options()) is None
    with pytest.raises(StyleSwapError, match="needs reflection padding"):
        Int8Encoder(engine.encoder(Options(encoder="vgg19", method="optim")), load_scales("vgg19-normalised", "max"))


def test_patches_chosen_from_int8_activations_keep_the_score(engine, astronaut, chelsea):
    options = Options()
    content, _ = engine.working_image(Picture.from_array(astronaut), 192, options)
    style, _ = engine.working_image(Picture.from_array(chelsea), 192, options)
    exact, rounded = engine.encode(content, options), engine.encode_for_matching(content, options)
    patches = prepare_style(engine.encode(style, options))
    best = match_scores(exact, patches, match(exact, patches)).sum()
    assert match_scores(exact, patches, match(rounded, patches)).sum() / best > 0.998
    assert match_scores(exact, patches, match_approx(rounded, patches, int8=True)).sum() / best > 0.99


def test_tiled_int8_encoding_equals_one_pass(engine, astronaut):
    options = Options()
    rgb, _ = engine.working_image(Picture.from_array(astronaut), 400, options)
    whole = engine.encode_for_matching(rgb, options)
    tiled = engine.encode_for_matching(rgb, Options(memory_budget=2**20))  # 256 px tiles
    assert torch.equal(tiled, whole)


def test_calibration_sets_each_layers_range_and_works_on_other_images(engine, astronaut, chelsea):
    options = Options()
    encoder = engine.encoder(options)
    images = [engine.working_image(Picture.from_array(chelsea[::2, ::2]), 128, options)[0], engine.working_image(Picture.from_array(astronaut[::3, ::3]), 128, options)[0]]
    scales, median = calibrate(encoder, images), calibrate(encoder, images, percentile=0.5)
    assert list(scales) == ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1"]
    assert all(median[name] < scales[name] for name in scales)  # the range grows with the percentile kept
    rgb, _ = engine.working_image(Picture.from_array(astronaut), 192, options)
    assert _relative(Int8Encoder(encoder, scales)(rgb), engine.encode(rgb, options)) < 0.08
    assert _relative(Int8Encoder(encoder, median)(rgb), engine.encode(rgb, options)) > 0.3  # saturated: scales matter
