"""The grain measure against an independent reference (scipy's median filter)."""

import numpy as np
import pytest
import torch
from scipy.ndimage import median_filter

from styleswap.engine.metrics import pixel_noise


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

