"""Approximate style-patch matching for CPUs: an inverted-file index over the style patches.

Exact matching scores every content patch against every style patch. Here the normalised style patches are
grouped once per style by spherical k-means into about 0.8·√N clusters (kept on the prepared style, like the
patches). Each content patch is scored against the cluster centres, then against every member of its ``PROBES``
best clusters: for N = 15 129 style patches that is 98 + 5 x 154 scores instead of 15 129. The per-cluster scores
are dense GEMMs over the content patches that probed the cluster.

With ``int8`` (the engine's int8 precision, on x86 CPUs with VNNI) those GEMMs run on int8 rows, a scale per cluster
and one for the whole content map, at several times float32's throughput with VNNI: the winner is then the best member
probed up to the rounding of the rows, which swaps a few near-tied patches. With one scale per cluster each
cluster's best member is found on the integer scores; a scale per style row kept the same score and cost a float pass
over every score. Otherwise the scores are computed in the activations' dtype.
"""

from __future__ import annotations

from typing import Callable

import torch

from styleswap.engine.swap import INT8_LEVELS, Clusters, Int8Rows, StylePatches, budget_or_default, content_bands, grid_shape, largest_magnitude, to_int8

# clusters = CLUSTERS_PER_ROOT x sqrt(style patches). Fewer, larger clusters make fuller GEMMs and keep the score of more,
# smaller ones with more probes; a fifth probe brings the inverse network's swap objective within 1 % of exact
# matching's (the sweep is in docs/benchmarks.md)
CLUSTERS_PER_ROOT = 0.8
PROBES = 5
_KMEANS_STEPS = 8
_KMEANS_SAMPLE = 16384  # style patches the centres are fitted on; all patches are then assigned
_CHUNK = 8192  # rows per assignment GEMM


def clusters(style: StylePatches) -> Clusters:
    """The style's clusters, made once and kept on the prepared style; regroups its rows cluster by cluster."""
    if style.clusters is None:
        wanted = max(1, min(style.count, round(CLUSTERS_PER_ROOT * style.count**0.5)))
        centroids = _spherical_kmeans(style.normalised, wanted)
        assignment = _nearest(style.normalised, centroids)
        sizes = torch.bincount(assignment, minlength=wanted)
        kept = sizes > 0  # a centre that won no patch would be probed for nothing
        centroids, sizes = centroids[kept], sizes[kept]
        assignment = (torch.cumsum(kept, 0) - 1)[assignment]
        order = torch.argsort(assignment, stable=True)
        rows = torch.empty_like(order)
        rows[order] = torch.arange(order.numel(), device=order.device)
        style.normalised = style.normalised[order]
        style.clusters = Clusters(centroids.contiguous(), [0, *torch.cumsum(sizes, 0).tolist()], order, rows)
    return style.clusters


def int8_codes(style: StylePatches) -> tuple[Int8Rows, Int8Rows]:
    """The cluster centres and the style patches as int8 rows, made on first int8 match and kept with the clusters."""
    index = clusters(style)
    if index.int8_members is None:
        index.int8_centroids, index.int8_members = Int8Rows.of(index.centroids), Int8Rows.of(style.normalised, index.bounds)
    return index.int8_centroids, index.int8_members


def match_approx(
    content: torch.Tensor,
    style: StylePatches,
    memory_budget: int | None = None,
    probes: int = PROBES,
    int8: bool = False,
    progress: Callable[[float], None] | None = None,
) -> torch.Tensor:
    """Like ``swap.match``, scoring each content patch only against the members of its ``probes`` closest clusters;
    with ``int8``, by int8 GEMMs (CPU only). ``progress`` gets the share of the (position, probe) pairs scored after
    each cluster (a band often holds the whole image)."""
    memory_budget = budget_or_default(memory_budget, content.device)
    index = clusters(style)
    bounds, count = index.bounds, index.centroids.shape[0]
    probes = min(probes, count)
    dim = style.normalised.shape[1]
    itemsize = content.element_size()
    rows, cols = grid_shape(content, style)
    best = torch.empty(rows * cols, dtype=torch.long, device=content.device)
    if int8:
        int8_centroids, int8_members = int8_codes(style)
        # one scale for the whole map: it multiplies every score alike, so it is dropped (a scale per patch row
        # kept the same score, and cost a pass over rows 9x the map's size)
        pixels = content[0].permute(1, 2, 0)  # (H, W, C): rows of channels, as matching reads them
        largest = largest_magnitude(content).float().clamp_min(1e-30).item()
        content = to_int8(pixels, INT8_LEVELS / largest).permute(2, 0, 1)[None]
        itemsize = 1
    per_position = dim * itemsize + (count + probes * 3) * 4  # its patch row, its centre scores, its probes' scores and rows
    for start, patches in content_bands(content, style.patch_size, style.stride, per_position, memory_budget):
        positions = patches.shape[0]
        centre_scores = int8_centroids.scores(patches) if int8 else patches @ index.centroids.t()
        probed = centre_scores.topk(probes, dim=1).indices.view(-1)
        pairs = torch.argsort(probed, stable=True)  # (position, cluster) pairs grouped by cluster
        who = pairs // probes
        sizes = torch.bincount(probed, minlength=count).tolist()
        score = torch.empty(positions * probes, dtype=torch.int32 if int8 else content.dtype, device=content.device)
        row = torch.empty(positions * probes, dtype=torch.long, device=content.device)
        gathered = patches.new_empty(max(sizes), dim)
        p0 = 0
        for cluster, size in enumerate(sizes):
            if size:
                members = slice(bounds[cluster], bounds[cluster + 1])
                torch.index_select(patches, 0, who[p0 : p0 + size], out=gathered[:size])
                scores = int8_members[members].codes(gathered[:size]) if int8 else gathered[:size] @ style.normalised[members].t()
                torch.max(scores, 1, out=(score[p0 : p0 + size], row[p0 : p0 + size]))
                row[p0 : p0 + size] += bounds[cluster]
                p0 += size
                if progress:
                    progress((start + p0 / probes) / (rows * cols))
        if int8:  # each cluster's integer scores in its members' scale
            score = score * int8_members.scales[row]
        by_position = torch.empty_like(score).index_copy_(0, pairs, score).view(positions, probes)
        row = torch.empty_like(row).index_copy_(0, pairs, row).view(positions, probes)
        best[start : start + positions] = row.gather(1, by_position.argmax(1, keepdim=True)).squeeze(1)
    return style.patch_numbers(best).view(rows, cols)


def _spherical_kmeans(patches: torch.Tensor, count: int) -> torch.Tensor:
    """Unit-norm centres of ``count`` clusters of unit-norm rows, by cosine similarity; seeded, so repeatable."""
    generator = torch.Generator().manual_seed(0)
    sample = patches[torch.randperm(patches.shape[0], generator=generator)[:_KMEANS_SAMPLE].to(patches.device)]
    centroids = sample[:count].clone()
    for _ in range(_KMEANS_STEPS):
        assignment = _nearest(sample, centroids)
        sums = torch.zeros_like(centroids).index_add_(0, assignment, sample)
        empty = torch.bincount(assignment, minlength=count) == 0
        if empty.any():  # restart a centre that lost all its patches on a random patch
            restart = torch.randperm(sample.shape[0], generator=generator)[: int(empty.sum())].to(patches.device)
            sums[empty] = sample[restart]
        centroids = sums / sums.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return centroids


def _nearest(patches: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    return torch.cat([(patches[i : i + _CHUNK] @ centroids.t()).argmax(1) for i in range(0, patches.shape[0], _CHUNK)])
