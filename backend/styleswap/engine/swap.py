"""Style swap: replace every content patch by its most correlated style patch, in bounded memory.

The paper does this with a convolution (scores for every style patch at every position), an argmax and a
transposed convolution. We do the same arithmetic as a GEMM over bands of content positions with a running argmax
over blocks of style patches, so the (#style patches x #positions) score map never exists at once, and rebuild the
features by gathering style activations and folding them back (one strided add per kernel offset), so the
reconstruction costs O(feature map) memory instead of a dense transposed convolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from styleswap.engine.devices import default_memory_budget
from styleswap.engine.errors import StyleSwapError

_EPS = 1e-8
INT8_LEVELS = 127  # symmetric int8 codes: -127..127, so a value and its negative round alike
# (content positions, style patches) scored by one GEMM: large enough for full GEMM speed, small enough (32 MB) that
# the allocator reuses its memory; one score block for a whole 512 px image spent up to a sixth of matching on page faults
SCORE_BLOCK = (4096, 2048)
_INT8_BLOCK = 1 << 22  # elements rounded to int8 at a time
_FOLD_BLOCK = 1 << 22  # activations gathered at a time by the patch fold


@dataclass
class StylePatches:
    """A style prepared once for matching: reused across images, frames and daemon requests."""

    features: torch.Tensor  # (C, Hs, Ws) raw style activations, the source of the patches put back
    normalised: torch.Tensor  # (N, C*k*k) each patch divided by its L2 norm, the correlation filters
    patch_size: int
    stride: int
    grid_width: int  # style patches per row: patch n sits at (n // grid_width, n % grid_width) * stride
    clusters: Clusters | None = None  # made on first approximate match, then kept with the style

    @property
    def count(self) -> int:
        return self.normalised.shape[0]

    @property
    def nbytes(self) -> int:
        tensors = [self.features, self.normalised] + ([self.clusters.centroids, self.clusters.order, self.clusters.rows] if self.clusters else [])
        codes = [self.clusters.int8_centroids, self.clusters.int8_members] if self.clusters else []
        return sum(t.nelement() * t.element_size() for t in tensors) + sum(c.nbytes for c in codes if c is not None)

    def patch_numbers(self, rows: torch.Tensor) -> torch.Tensor:
        """The patch held by each row of ``normalised`` (rows are regrouped by cluster once clusters exist)."""
        return rows if self.clusters is None else self.clusters.order[rows]

    def filters(self, patches: torch.Tensor) -> torch.Tensor:
        """The normalised patches with these patch numbers."""
        return self.normalised[patches if self.clusters is None else self.clusters.rows[patches]]


@dataclass
class Int8Rows:
    """Rows as int8 codes for int8 GEMMs on a CPU, with one scale (absolute maximum / ``INT8_LEVELS``) per row or per group of
    rows: a group's integer scores then compare as they are, with no float pass over them."""

    values: torch.Tensor  # (rows, D) int8
    scales: torch.Tensor  # (rows,) float32, equal within a group

    @classmethod
    def of(cls, rows: torch.Tensor, bounds: list[int] | None = None) -> Int8Rows:
        """Codes of ``rows``; with ``bounds``, rows bounds[g]:bounds[g + 1] share the scale of their largest value."""
        largest = largest_magnitude(rows, 1).float()
        if bounds is not None:
            sizes = torch.tensor(bounds, device=rows.device).diff()
            group = torch.repeat_interleave(torch.arange(len(sizes), device=rows.device), sizes)
            largest = largest.new_zeros(len(sizes)).scatter_reduce_(0, group, largest, "amax")[group]
        scales = largest.clamp_min_(1e-30) / INT8_LEVELS
        return cls(to_int8(rows, (1 / scales)[:, None]), scales)

    def __getitem__(self, rows: slice) -> Int8Rows:
        return Int8Rows(self.values[rows], self.scales[rows])

    def codes(self, queries: torch.Tensor) -> torch.Tensor:
        """(queries, rows) int32 dot products of int8 query codes with these rows' codes."""
        return torch._int_mm(queries, self.values.t())

    def scores(self, queries: torch.Tensor) -> torch.Tensor:
        """(queries, rows) dot products of int8 query codes with these rows, each query in its own code units."""
        return self.codes(queries) * self.scales  # promotes to float32: faster than .float() first

    @property
    def nbytes(self) -> int:
        return self.values.nelement() + self.scales.nelement() * 4


def budget_or_default(memory_budget: int | None, device: torch.device) -> int:
    """The caller's memory budget, or the device's default (the engine's, so a library call is bounded alike)."""
    return default_memory_budget(device) if memory_budget is None else memory_budget


def largest_magnitude(x: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """max |x| (along ``dim``) without an |x| copy; torch's infinity-norm reduction, which also makes none, ran
    far slower than amax and amin."""
    dims = () if dim is None else dim
    return torch.maximum(x.amax(dims), -x.amin(dims))


def to_int8(x: torch.Tensor, scale: torch.Tensor | float) -> torch.Tensor:
    """round(x * scale) as int8 (``scale`` broadcasts along the first dimension), a block of rows at a time: the
    float product of a 4K frame's activations at once would be 0.5 GB on top of them."""
    out = torch.empty(x.shape, dtype=torch.int8, device=x.device)
    step = max(1, _INT8_BLOCK // max(1, x[0].numel()))
    for i in range(0, x.shape[0], step):
        part = scale[i : i + step] if isinstance(scale, torch.Tensor) else scale
        out[i : i + step] = (x[i : i + step].float() * part).round_()
    return out


@dataclass
class Clusters:
    """The style patches grouped by direction, for approximate matching; ``normalised`` is stored cluster by cluster."""

    centroids: torch.Tensor  # (clusters, C*k*k) unit-norm cluster centres
    bounds: list[int]  # cluster c holds rows bounds[c]:bounds[c + 1] of the normalised patches
    order: torch.Tensor  # (N,) the patch number of each row
    rows: torch.Tensor  # (N,) the row of each patch number
    int8_centroids: Int8Rows | None = None  # the centres and the normalised patches as int8 codes, made on the
    int8_members: Int8Rows | None = None  # first int8 match (approx_match.int8_codes)


def prepare_style(features: torch.Tensor, patch_size: int = 3, stride: int = 1) -> StylePatches:
    """Cut style activations (1, C, H, W) into k x k patches and scale each to unit norm."""
    _check_geometry(features, patch_size, stride, "style")
    feats = features[0]
    patches = patch_rows(features, patch_size, stride)
    # at least float32: float16 squares overflow
    norms = torch.linalg.vector_norm(patches, dim=1, keepdim=True, dtype=torch.promote_types(patches.dtype, torch.float32))
    normalised = patches / (norms + _EPS).to(patches.dtype)
    grid_width = (feats.shape[2] - patch_size) // stride + 1
    return StylePatches(feats, normalised, patch_size, stride, grid_width)


def patch_rows(features: torch.Tensor, patch_size: int, stride: int = 1) -> torch.Tensor:
    """The k x k patches of (1, C, H, W) activations as contiguous rows (positions, k*k*C), row by row.

    Each row lists the patch's k*k activation vectors in turn: one copy, faster than ``F.unfold`` and the
    contiguous copy of its transpose that row gathers need. Style and content rows share this order, which is all a
    correlation needs."""
    pixels = features[0].permute(1, 2, 0)
    windows = pixels.unfold(0, patch_size, stride).unfold(1, patch_size, stride)  # (rows, cols, C, k, k)
    return windows.permute(0, 1, 3, 4, 2).reshape(-1, patch_size * patch_size * pixels.shape[2])


def content_bands(content: torch.Tensor, patch_size: int, stride: int, per_position_bytes: int, memory_budget: int):
    """Yield (first position, patch rows (positions, k*k*C)) for bands of whole patch rows within the budget."""
    k, s = patch_size, stride
    _, _, height, width = content.shape
    rows, cols = (height - k) // s + 1, (width - k) // s + 1
    band_rows = max(1, min(rows, memory_budget // (cols * per_position_bytes)))
    for r0 in range(0, rows, band_rows):
        r1 = min(rows, r0 + band_rows)
        yield r0 * cols, patch_rows(content[:, :, r0 * s : (r1 - 1) * s + k], k, s)


def grid_shape(content: torch.Tensor, style: StylePatches) -> tuple[int, int]:
    """(rows, cols) of content patch positions."""
    k, s = style.patch_size, style.stride
    return (content.shape[2] - k) // s + 1, (content.shape[3] - k) // s + 1


def match(content: torch.Tensor, style: StylePatches, memory_budget: int | None = None, progress: Callable[[float], None] | None = None) -> torch.Tensor:
    """Index (Ho, Wo) of the best style patch for every content patch, by normalised cross-correlation.

    ``content`` is (1, C, H, W) with (H - k) and (W - k) multiples of the stride (``swap`` pads to ensure it).
    ``memory_budget`` bounds a band of content patches plus its scores, in bytes (None: the device's default).
    ``progress`` gets the share of the (position, style patch) scores done after each GEMM.
    """
    memory_budget = budget_or_default(memory_budget, content.device)
    dim = style.normalised.shape[1]
    itemsize = content.element_size()
    style_block = max(1, min(style.count, SCORE_BLOCK[1], memory_budget // (4 * dim * itemsize)))
    rows, cols = grid_shape(content, style)
    best = torch.empty(rows * cols, dtype=torch.long, device=content.device)
    for start, band in content_bands(content, style.patch_size, style.stride, (dim + style_block) * itemsize, memory_budget):
        for p0 in range(0, band.shape[0], SCORE_BLOCK[0]):
            patches = band[p0 : p0 + SCORE_BLOCK[0]]
            best_index = best[start + p0 : start + p0 + patches.shape[0]]
            for n0 in range(0, style.count, style_block):
                score, index = (patches @ style.normalised[n0 : n0 + style_block].t()).max(dim=1)
                if n0 == 0:
                    best_score, best_index[:] = score, index
                else:
                    better = score > best_score
                    best_score = torch.where(better, score, best_score)
                    best_index[:] = torch.where(better, index + n0, best_index)
                if progress:
                    progress((start + p0 + patches.shape[0] * min(1.0, (n0 + style_block) / style.count)) / (rows * cols))
    return style.patch_numbers(best).view(rows, cols)


def match_scores(content: torch.Tensor, style: StylePatches, indices: torch.Tensor) -> torch.Tensor:
    """Correlation of each content patch with the normalised style patch it was given: what matching maximises,
    so approximate matchers are judged by its sum against exact matching's."""
    return (patch_rows(content, style.patch_size, style.stride) * style.filters(indices.view(-1))).sum(1)


Matcher = Callable[[torch.Tensor, StylePatches, int], torch.Tensor]  # swap hands it a budget in bytes, never None


def reconstruct(indices: torch.Tensor, style: StylePatches, height: int, width: int) -> torch.Tensor:
    """Put the raw style patches named by ``indices`` back in place, averaging where they overlap.

    Gather + fold on rows of channels: for each kernel offset (dy, dx) one row gather of style activations and one
    strided add, so memory stays at a few feature maps whatever the number of style patches. The result is
    channels last (1, C, H, W); the rows are a view of channels-last style activations (faster than gathering
    columns of the usual layout).
    """
    k, s = style.patch_size, style.stride
    rows, cols = indices.shape
    channels, _, style_width = style.features.shape
    pixels = style.features.permute(1, 2, 0).reshape(-1, channels)
    origin = (indices // style.grid_width) * s * style_width + (indices % style.grid_width) * s  # top-left, flat
    out = pixels.new_zeros(height, width, channels)
    count = pixels.new_zeros(height, width, 1)
    block = max(1, _FOLD_BLOCK // (cols * channels))  # patch rows gathered at a time: a whole 4K map is 0.5 GB
    for dy in range(k):
        for dx in range(k):
            for r0 in range(0, rows, block):
                r1 = min(rows, r0 + block)
                taken = pixels.index_select(0, (origin[r0:r1] + dy * style_width + dx).view(-1)).view(r1 - r0, cols, channels)
                window = (slice(dy + s * r0, dy + s * (r1 - 1) + 1, s), slice(dx, dx + s * (cols - 1) + 1, s))
                out[window] += taken
                count[window] += 1
    return out.div_(count).permute(2, 0, 1).unsqueeze(0)  # in place, for the same reason


def swap(
    content: torch.Tensor, style: StylePatches, memory_budget: int | None = None, matcher: Matcher = match, progress: Callable[[float], None] | None = None
) -> torch.Tensor:
    """Style-swapped activations Φss with the shape of ``content`` (1, C, H, W).

    ``matcher`` is ``match`` (exhaustive, exact) or ``approx_match.match_approx`` (probe the closest clusters);
    ``progress`` is handed to it (matching is the work; the fold after it takes a few percent).

    With a stride above 1 the content map is reflection-padded on the right and bottom so patches tile it to the
    edge, then cropped back.
    """
    k, s = style.patch_size, style.stride
    _check_geometry(content, k, s, "content")
    memory_budget = budget_or_default(memory_budget, content.device)
    _, _, height, width = content.shape
    pad_h, pad_w = (-(height - k)) % s, (-(width - k)) % s
    padded = F.pad(content, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else content
    indices = matcher(padded, style, memory_budget, progress=progress) if progress else matcher(padded, style, memory_budget)
    return reconstruct(indices, style, height + pad_h, width + pad_w)[:, :, :height, :width]


def _check_geometry(features: torch.Tensor, patch_size: int, stride: int, what: str) -> None:
    if patch_size < 1 or stride < 1:
        raise StyleSwapError("patch size and stride must be at least 1")
    if stride > patch_size:
        raise StyleSwapError(f"stride {stride} is larger than the patch size {patch_size}: patches would leave gaps")
    height, width = features.shape[-2:]
    if min(height, width) < patch_size:
        raise StyleSwapError(
            f"the {what} image is too small for {patch_size}x{patch_size} patches: "
            f"its features are {height}x{width}; use a larger image or a smaller patch size"
        )
