"""The optimisation's result judged as a picture: the grain measure against an independent reference (scipy's median
filter), and the default optimisation on a real evaluation pair at 256 px: little grain, random starts that agree,
and an objective no worse than a bound (smoothing must not be bought with a worse fit)."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import median_filter

from styleswap.engine.images import Picture, load_image
from styleswap.engine.metrics import pixel_noise
from styleswap.engine.stylize import Engine, Options, fit_within

PAIR = ("portrait_astronaut_skimage.jpg", "hokusai_great_wave.jpg")
SIZE = 256


def reference_noise(rgb: np.ndarray) -> np.ndarray:
    """Mean |x − median3×3(x)| of JPEG's Y, Cb, Cr (0–255) over the interior of an (H, W, 3) image in [0,1]."""
    rgb = rgb.astype(np.float64) * 255
    to_ycc = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
    ycc = rgb @ to_ycc.T
    return np.array([np.abs(ycc[..., c] - median_filter(ycc[..., c], size=3))[1:-1, 1:-1].mean() for c in range(3)])


def test_pixel_noise_matches_a_median_filter_reference():
    rng = np.random.default_rng(3)
    smooth = np.linspace(0, 1, 150)[None, :, None] * np.ones((140, 1, 3))  # a clean ramp: no grain
    speckled = np.clip(smooth + rng.normal(0, 0.03, smooth.shape), 0, 1)  # banded rows exercise the chunking
    for rgb in (smooth, speckled):
        ours = pixel_noise(torch.from_numpy(rgb).permute(2, 0, 1).float())
        assert ours == pytest.approx(reference_noise(rgb), abs=2e-3)
    assert pixel_noise(torch.from_numpy(smooth).permute(2, 0, 1).float()) == pytest.approx((0, 0, 0), abs=1e-3)
    assert min(pixel_noise(torch.from_numpy(speckled).permute(2, 0, 1).float())) > 0.5


@pytest.fixture(scope="module")
def engine(models):
    return Engine("cpu", precision="float32")


@pytest.fixture(scope="module")
def pair():
    data = Path(os.environ["STYLESWAP_DATA"]) / "eval"
    content, style = data / "content" / PAIR[0], data / "style" / PAIR[1]
    if not (content.is_file() and style.is_file()):
        pytest.fail(f"evaluation images not found in {data}; set STYLESWAP_DATA")
    return at_size(load_image(content), SIZE), load_image(style)


def at_size(picture: Picture, side: int) -> Picture:
    """The content at the working size, so the result is judged as optimised, not smoothed by scaling it back up."""
    pixels = Image.fromarray(np.rint(picture.rgb * 255).astype(np.uint8))
    return Picture.from_array(np.asarray(pixels.resize(fit_within(picture.size, side), Image.LANCZOS)))


def optimised(engine, pair, **options):
    result = engine.stylize(*pair, Options(method="optim", max_size=SIZE, style_size=SIZE, match="exact", **options))
    return result.picture.rgb.astype(np.float64), result.objective


def test_default_optimisation_is_clean_and_fits_the_target(engine, pair):
    """With a TV weight of 1 on RGB this pair scored noise Y 5.07, Cb 1.96, Cr 1.74 (pink and green speckle) and
    objective 0.1790. The bounds are the issue's: chroma noise at most half, luminance noise 20 % lower, the
    objective at most 5 % higher (a stronger plain TV meets the noise bounds only by failing this one)."""
    rgb, objective = optimised(engine, pair)
    y, cb, cr = reference_noise(rgb)
    assert cb < 0.98 and cr < 0.87, (y, cb, cr)
    assert y < 4.06, (y, cb, cr)
    assert objective < 0.188, objective


def test_random_starts_agree_more_closely(engine, pair):
    """Two random starts: 0.063 per pixel and channel apart with the RGB TV of weight 1, 0.049 now. What is left is
    mostly where the strokes fall, not grain; the aim of 0.02 is not reached (docs/benchmarks.md)."""
    first, _ = optimised(engine, pair, init="random", seed=0)
    second, _ = optimised(engine, pair, init="random", seed=1)
    assert np.abs(first - second).mean() < 0.056
