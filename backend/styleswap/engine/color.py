"""Colour preservation: the stylised image's luminance with the content's chrominance (Gatys et al. 2016)."""

from __future__ import annotations

import torch

# BT.601 full-range RGB -> YCbCr (rows: Y, Cb, Cr) for float RGB in [0, 1], chroma centred on 0.
_RGB_TO_YCC = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) RGB in [0, 1] as Y, Cb, Cr on the same scale (chroma centred on 0)."""
    return torch.einsum("ij,...jhw->...ihw", _RGB_TO_YCC.to(rgb), rgb)


def keep_content_colour(stylised: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Both (N, 3, H, W) in [0, 1] and of one size; returns Y from ``stylised`` and Cb, Cr from ``content``."""
    forward = _RGB_TO_YCC.to(stylised)
    y = torch.einsum("ij,njhw->nihw", forward[:1], stylised)
    chroma = torch.einsum("ij,njhw->nihw", forward[1:], content)
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(forward), torch.cat([y, chroma], dim=1)).clamp(0.0, 1.0)


def luminance(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) BT.601 luma of (N, 3, H, W) RGB."""
    return torch.einsum("j,njhw->nhw", _RGB_TO_YCC[0].to(rgb), rgb).unsqueeze(1)
