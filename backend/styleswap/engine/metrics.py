"""Measures of how well an image realises target activations."""

from __future__ import annotations

import torch

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
