"""Approximate style-patch matching for CPUs: shortlist candidates in a low-dimensional projection of the
patches, then re-rank the shortlist with the exact normalised cross-correlation.

Exact matching costs positions x style patches x C·k·k multiply-adds. Projected onto the leading d singular
directions of the normalised style patches, the shortlist costs d/(C·k·k) of that (1/36 at d = 64), and the
re-ranking positions x shortlist x C·k·k. The winner is always a true correlation maximum among the shortlist, so
when the exact best patch is missed a close runner-up takes its place.
"""

from __future__ import annotations

import torch

from styleswap.swap import DEFAULT_MEMORY_BUDGET, Projection, StylePatches, content_bands, grid_shape

DIMS = 64
SHORTLIST = 16
_SAMPLE = 8192  # style patches the basis is estimated from
_BAND_BUDGET = 16 * 2**20  # the shortlist gather is memory-bound: bands that stay in cache run about 3x faster


def projection(style: StylePatches, dims: int = DIMS) -> Projection:
    """The style's projection, computed once and kept on the prepared style."""
    if style.projection is None or style.projection.basis.shape[1] != dims:
        patches = style.normalised
        generator = torch.Generator().manual_seed(0)
        sample = patches[torch.randperm(patches.shape[0], generator=generator)[:_SAMPLE].to(patches.device)]
        dims = min(dims, *sample.shape)
        # uncentred: the score is a plain dot product, so the mean direction matters as much as any other
        _, _, v = torch.svd_lowrank(sample, q=min(dims + 8, *sample.shape), niter=2, M=None)
        basis = v[:, :dims].contiguous()
        style.projection = Projection(basis, (patches @ basis).contiguous())
    return style.projection


def match_approx(
    content: torch.Tensor, style: StylePatches, memory_budget: int = DEFAULT_MEMORY_BUDGET, dims: int = DIMS, shortlist: int = SHORTLIST
) -> torch.Tensor:
    """Like ``swap.match``, from a shortlist of ``shortlist`` candidates per position found in ``dims`` dimensions."""
    proj = projection(style, dims)
    dim = style.normalised.shape[1]
    shortlist = min(shortlist, style.count)
    itemsize = content.element_size()
    style_block = max(shortlist, min(style.count, memory_budget // (4 * proj.basis.shape[1] * itemsize)))
    per_position = (dim + style_block + shortlist * (dim + 2)) * itemsize
    rows, cols = grid_shape(content, style)
    best = torch.empty(rows * cols, dtype=torch.long, device=content.device)
    for start, patches in content_bands(content, style.patch_size, style.stride, per_position, min(memory_budget, _BAND_BUDGET)):
        projected = patches @ proj.basis
        top_score = top_index = None
        for n0 in range(0, style.count, style_block):
            score, index = (projected @ proj.style[n0 : n0 + style_block].t()).topk(min(shortlist, style.count - n0), dim=1)
            index += n0
            if top_score is not None:
                score, pick = torch.cat([top_score, score], 1).topk(shortlist, dim=1)
                index = torch.cat([top_index, index], 1).gather(1, pick)
            top_score, top_index = score, index
        exact = torch.einsum("pd,pmd->pm", patches, style.normalised[top_index])
        best[start : start + patches.shape[0]] = top_index.gather(1, exact.argmax(dim=1, keepdim=True)).squeeze(1)
    return best.view(rows, cols)
