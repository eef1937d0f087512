"""Measures of how well an image realises target activations."""

from __future__ import annotations

import torch

from styleswap.engine.color import to_ycbcr

_ROWS = 64  # feature rows per step: a 4K frame's relu3_1 map is 0.5 GB, its squared difference need not exist at once


def swap_objective(features: torch.Tensor, target: torch.Tensor) -> float:
    """‖Φ(I) − Φss‖² / ‖Φss‖²: the paper's reconstruction loss, scale-free so images of any size compare."""
    error = energy = 0.0
    for y in range(0, target.shape[-2], _ROWS):
        rows = target[..., y : y + _ROWS, :].float()  # half-precision squares overflow beyond 256
        error += float((features[..., y : y + _ROWS, :].float() - rows).pow(2).sum(dtype=torch.float64))
        energy += float(rows.pow(2).sum(dtype=torch.float64))
    return error / max(energy, 1e-12)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels: the smoothness prior of the optimisation."""
    return (image[..., 1:, :] - image[..., :-1, :]).pow(2).mean() + (image[..., :, 1:] - image[..., :, :-1]).pow(2).mean()


def colour_total_variation(image: torch.Tensor, chroma_weight: float) -> torch.Tensor:
    """Mean over pixels of the squared neighbour differences of Y plus ``chroma_weight`` times those of Cb and Cr.

    For grey differences it equals ``total_variation`` (a step of d in R, G and B is a step of d in Y alone); colour
    differences count ``chroma_weight`` times as much, because relu3_1 features hardly see single-pixel colour
    changes: only the prior can keep them out of an optimised image.
    """
    ycc = to_ycbcr(image)
    weights = torch.tensor([1.0, chroma_weight, chroma_weight], dtype=image.dtype, device=image.device).view(3, 1, 1)
    down = (ycc[..., 1:, :] - ycc[..., :-1, :]).pow(2).mul(weights).sum(dim=-3).mean()
    across = (ycc[..., :, 1:] - ycc[..., :, :-1]).pow(2).mul(weights).sum(dim=-3).mean()
    return down + across


def pixel_noise(image: torch.Tensor) -> tuple[float, float, float]:
    """Mean |x − median3×3(x)| of Y, Cb and Cr on the 0–255 scale (JPEG's full-range BT.601).

    Grain is what a 3×3 median removes: single-pixel speckle scores high, smooth shading and clean edges low.
    ``image`` is RGB in [0,1], (3, H, W) or (1, 3, H, W); only interior pixels count, so borders add nothing.
    """
    rgb = image.detach().float().reshape(-1, *image.shape[-3:])[0].clamp(0.0, 1.0) * 255.0
    height, width = rgb.shape[-2:]
    if height < 3 or width < 3:
        return (0.0, 0.0, 0.0)
    ycc = to_ycbcr(rgb)
    total = torch.zeros(3, dtype=torch.float64, device=rgb.device)
    for y in range(1, height - 1, _ROWS):  # nine shifted copies of a band, not of a 4K frame
        band = ycc[:, y - 1 : min(y + _ROWS, height - 1) + 1]
        windows = band.unfold(1, 3, 1).unfold(2, 3, 1)  # (3, rows, W-2, 3, 3)
        median = windows.reshape(*windows.shape[:3], 9).median(dim=-1).values
        total += (band[:, 1:-1, 1:-1] - median).abs().sum(dim=(1, 2), dtype=torch.float64)
    y, cb, cr = (total / ((height - 2) * (width - 2))).tolist()
    return (y, cb, cr)
