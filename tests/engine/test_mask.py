"""Stylising through a mask: zeros leave the image alone bit for bit, ones equal no mask, a soft mask blends, and
a small masked region is stylised at a working size chosen from the region, not the whole frame."""

import numpy as np
import pytest

from styleswap.engine.errors import StyleSwapError
from styleswap.engine.images import Picture, load_image, save_image
from styleswap.engine.mask import MIN_MARGIN, region
from styleswap.engine.stylize import Engine, Options

OPTIONS = Options(max_size=128, style_size=96)


@pytest.fixture(scope="module")
def engine(models):
    return Engine("cpu", precision="float32")


@pytest.fixture(scope="module")
def content(chelsea):
    alpha = np.tile(np.linspace(0, 255, chelsea.shape[1], dtype=np.uint8), (chelsea.shape[0], 1))
    return Picture.from_array(np.dstack([chelsea, alpha]))


@pytest.fixture(scope="module")
def style(engine, astronaut):
    return engine.prepare_style(Picture.from_array(astronaut[::4, ::4]), OPTIONS)


@pytest.fixture(scope="module")
def plain(engine, content, style):
    return engine.stylize(content, style, OPTIONS)


def test_a_mask_of_zeros_leaves_the_image_untouched_bit_for_bit(engine, content, style):
    result = engine.stylize(content, style, OPTIONS, mask=np.zeros(content.rgb.shape[:2], np.float32))
    assert np.array_equal(result.picture.to_array(), content.to_array())
    assert result.region is None


def test_a_mask_of_ones_equals_the_unmasked_result(engine, content, style, plain):
    result = engine.stylize(content, style, OPTIONS, mask=np.ones(content.rgb.shape[:2], np.float32))
    assert np.array_equal(result.picture.to_array(), plain.picture.to_array())
    assert result.working_size == plain.working_size


def test_a_soft_mask_blends_between_the_content_and_the_stylised_image(engine, content, style, plain):
    height, width = content.rgb.shape[:2]
    ramp = np.tile(np.linspace(0.0, 1.0, width, dtype=np.float32), (height, 1))
    result = engine.stylize(content, style, OPTIONS, mask=ramp).picture.rgb
    expected = content.rgb * (1 - ramp[..., None]) + plain.picture.rgb * ramp[..., None]
    assert np.abs(result - expected).max() < 1e-6
    assert np.array_equal(result[:, 0], content.rgb[:, 0]) and np.array_equal(result[:, -1], plain.picture.rgb[:, -1])
    assert np.abs(plain.picture.rgb - content.rgb).mean() > 0.05  # the stylisation did change the picture
    assert np.array_equal(engine.stylize(content, style, OPTIONS, mask=ramp).picture.alpha, content.alpha)


def test_a_small_region_is_stylised_at_a_size_chosen_from_the_region(engine, content, style, plain):
    height, width = content.rgb.shape[:2]
    mask = np.zeros((height, width), np.float32)
    mask[150:190, 200:250] = 1.0  # 50x40 px of a 451x300 photo
    result = engine.stylize(content, style, OPTIONS, mask=mask)
    x, y, w, h = result.region
    assert (x, y) == (200 - MIN_MARGIN, 150 - MIN_MARGIN) and (w, h) == (50 + 2 * MIN_MARGIN, 40 + 2 * MIN_MARGIN)
    # The whole frame works at 128 px on its long side (the region would get 36x28 of it); the region at its own 82x72.
    assert plain.working_size == (128, 85) and result.working_size == (w, h)
    outside = mask == 0
    assert np.array_equal(result.picture.rgb[outside], content.rgb[outside])
    assert np.abs(result.picture.rgb[150:190, 200:250] - content.rgb[150:190, 200:250]).mean() > 0.05


def test_the_region_is_the_masked_box_grown_by_a_margin_within_the_image():
    mask = np.zeros((100, 200), np.float32)
    assert region(mask) is None
    mask[0:5, 190:200] = 0.5
    assert region(mask) == (190 - MIN_MARGIN, 0, 10 + MIN_MARGIN, 5 + MIN_MARGIN)


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        (np.zeros((10, 10), np.float32), "the mask is 10x10 but the content is 451x300"),
        (np.full((300, 451), np.nan, np.float32), "not numbers"),
        (np.full((300, 451), 2.0, np.float32), "must lie in [0, 1]"),
    ],
)
def test_bad_masks_are_refused_with_a_message(engine, content, style, mask, message):
    with pytest.raises(StyleSwapError, match=message.replace("[", r"\[").replace("]", r"\]")):
        engine.stylize(content, style, OPTIONS, mask=mask)


def test_the_cli_takes_a_mask_file(tmp_path, chelsea, astronaut, models):
    import subprocess
    import sys

    save_image(Picture.from_array(chelsea), tmp_path / "content.png")
    save_image(Picture.from_array(astronaut[::4, ::4]), tmp_path / "style.png")
    mask = np.zeros(chelsea.shape[:2], np.uint8)
    mask[100:200, :200] = 255
    save_image(Picture.from_array(mask), tmp_path / "mask.png")
    run = subprocess.run(
        [sys.executable, "-m", "styleswap", "stylize", "content.png", "style.png", "-o", "out.png", "--mask", "mask.png", "--max-size", "128", "--style-size", "96", "--quiet"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr
    out = load_image(tmp_path / "out.png").to_array()
    assert np.array_equal(out[mask == 0], chelsea[mask == 0])
    assert np.abs(out[mask > 0].astype(int) - chelsea[mask > 0]).mean() > 10
    wrong = subprocess.run([sys.executable, "-m", "styleswap", "stylize", "content.png", "style.png", "-o", "x.png", "--mask", "style.png"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert wrong.returncode == 2 and "the mask is" in wrong.stderr and "Traceback" not in wrong.stderr
