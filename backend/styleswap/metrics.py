"""Measures of how well an image realises target activations."""

from __future__ import annotations

import torch


def swap_objective(features: torch.Tensor, target: torch.Tensor) -> float:
    """‖Φ(I) − Φss‖² / ‖Φss‖²: the paper's reconstruction loss, scale-free so images of any size compare."""
    return float((features - target).pow(2).sum() / target.pow(2).sum().clamp_min(1e-12))


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels: the smoothness prior of the optimisation."""
    return (image[..., 1:, :] - image[..., :-1, :]).pow(2).mean() + (image[..., :, 1:] - image[..., :, :-1]).pow(2).mean()
