import numpy as np
import pytest
import torch

from int8_marks import needs_int8
from styleswap.engine import approx_match
from styleswap.engine import swap as swap_module
from styleswap.engine.approx_match import CLUSTERS_PER_ROOT, clusters, match_approx
from styleswap.engine.devices import int8_available
from styleswap.engine.images import Picture
from styleswap.engine.stylize import Engine, Options
from styleswap.engine.swap import Int8Rows, match, match_scores, prepare_style


def _small(seed: int, style_hw=(22, 22), content_hw=(19, 17)):
    """Synthetic activations, fast to match: 400 style patches (16 clusters) and 17 x 15 = 255 content positions."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(1, 6, *content_hw, generator=gen), prepare_style(torch.rand(1, 6, *style_hw, generator=gen))


@pytest.mark.parametrize("side,count", [(3, 1), (4, 2), (12, 8), (22, 16), (52, 40)])  # round(0.8 x sqrt(patches))
def test_clusters_partition_the_style_by_nearest_centre(side, count):
    """About 0.8 sqrt(N) clusters (the module docstring); every patch sits in the cluster of its nearest centre."""
    style = prepare_style(torch.rand(1, 6, side, side, generator=torch.Generator().manual_seed(side)))
    original = style.normalised.clone()
    index = clusters(style)
    assert index.centroids.shape[0] <= count and len(index.bounds) == index.centroids.shape[0] + 1
    assert index.bounds[0] == 0 and index.bounds[-1] == style.count and all(a < b for a, b in zip(index.bounds, index.bounds[1:]))
    assert torch.equal(index.order.sort().values, torch.arange(style.count)) and torch.equal(index.order[index.rows], torch.arange(style.count))
    assert torch.equal(style.normalised, original[index.order])
    torch.testing.assert_close(index.centroids.norm(dim=1), torch.ones(index.centroids.shape[0]))
    cluster_of_row = torch.repeat_interleave(torch.arange(len(index.bounds) - 1), torch.tensor(index.bounds).diff())
    assert torch.equal((style.normalised @ index.centroids.t()).argmax(1), cluster_of_row)


def test_clusters_are_as_many_as_wanted_when_patches_are_spread():
    """Random patches leave no centre empty: exactly round(0.8 x sqrt(N)) clusters."""
    for side, count in ((12, 8), (22, 16), (52, 40)):
        style = prepare_style(torch.rand(1, 6, side, side, generator=torch.Generator().manual_seed(side)) - 0.5)
        assert clusters(style).centroids.shape[0] == count


@pytest.mark.parametrize("side,count", [(22, 16), (32, 24)])
def test_a_half_flat_style_still_gets_every_cluster(side, count):
    """Centres seeded on equal flat patches lose their patches to the first of them; each such centre restarts on
    another patch, so the textured half still gets the clusters it needs."""
    style = torch.rand(1, 6, side, side, generator=torch.Generator().manual_seed(side))
    style[:, :, :, : side // 2] = 1.0
    assert clusters(prepare_style(style)).centroids.shape[0] == count


def test_a_style_with_a_black_half_gets_finite_centres():
    """Black regions give zero activations, so zero patches: a centre of only those stays a zero vector, not NaN."""
    style = torch.rand(1, 6, 22, 22, generator=torch.Generator().manual_seed(1))
    style[:, :, :, :11] = 0
    index = clusters(prepare_style(style))
    assert torch.isfinite(index.centroids).all() and index.centroids.shape[0] == 16


def test_patches_are_assigned_a_chunk_at_a_time(monkeypatch):
    """Assignment GEMMs take 8192 rows at a time; lowered here to 7, every row still gets its nearest centre."""
    monkeypatch.setattr(approx_match, "_CHUNK", 7)
    style = prepare_style(torch.rand(1, 6, 22, 22, generator=torch.Generator().manual_seed(22)))
    index = clusters(style)
    cluster_of_row = torch.repeat_interleave(torch.arange(len(index.bounds) - 1), torch.tensor(index.bounds).diff())
    assert index.bounds[-1] == 400 and torch.equal((style.normalised @ index.centroids.t()).argmax(1), cluster_of_row)


def test_ties_go_to_the_first_patch_as_in_exact_matching():
    """Equal patches share a cluster; within it rows keep the patches' order, so a tie goes to the first of them."""
    style = torch.rand(1, 6, 22, 22, generator=torch.Generator().manual_seed(22))
    style[:, :, :, 11:] = 1.0  # the right half flat: equal patches, after textured ones in every row
    style = prepare_style(style)
    content = torch.ones(1, 6, 8, 8)  # best matched by every flat patch alike
    exact = match(content, style)
    assert exact.unique().tolist() == [11]  # the first flat patch
    assert torch.equal(match_approx(content, style, probes=100), exact)


def test_a_flat_style_makes_one_cluster_not_empty_ones():
    """All patches alike: every centre but one wins no patch (even after its restarts), and is dropped rather than
    probed for nothing."""
    style = prepare_style(torch.ones(1, 6, 12, 12))  # 100 equal patches: 8 centres wanted
    index = clusters(style)
    assert index.bounds == [0, 100] and index.centroids.shape[0] == 1
    assert clusters(prepare_style(torch.ones(1, 6, 5, 5))).bounds == [0, 9]  # fewer patches (9) than dimensions (54)
    content = torch.rand(1, 6, 7, 7, generator=torch.Generator().manual_seed(4))
    assert torch.equal(match_approx(content, style), match(content, style))


@pytest.mark.parametrize("int8", [False, pytest.param(True, marks=needs_int8)])
def test_probing_every_cluster_matches_exactly_in_bands_too(int8):
    content, style = _small(1)
    exact = match(content, style)
    for budget in (1 << 30, 3_000):  # one band; bands of one row of positions
        found = match_approx(content, style, budget, probes=100, int8=int8)
        if int8:  # rounding swaps a few near ties, no more
            assert (found == exact).float().mean() > 0.9
        else:
            assert torch.equal(found, exact)


def test_fewer_probes_stay_close_and_the_default_is_five():
    content, style = _small(2)
    exact = match(content, style)
    found = {p: match_approx(content, style, probes=p) for p in (1, 4, 5, 6)}
    assert torch.equal(match_approx(content, style), found[5])
    assert not torch.equal(found[4], found[5]) and not torch.equal(found[6], found[5])
    ratios = [(match_scores(content, style, found[p]).sum() / match_scores(content, style, exact).sum()).item() for p in (1, 4, 5, 6)]
    assert ratios == sorted(ratios) and ratios[0] < ratios[-1] <= 1.0 + 1e-6


@pytest.mark.parametrize("budget", [1 << 30, 3_000])
def test_approximate_progress_is_the_share_of_probes_scored(budget):
    content, style = _small(3)
    seen = []
    match_approx(content, style, budget, progress=seen.append)
    assert len(seen) > 5 and all(a < b for a, b in zip(seen, seen[1:])) and seen[-1] == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("int8", [False, pytest.param(True, marks=needs_int8)])
@pytest.mark.parametrize("budget", [20_000, 60_000])
def test_a_band_with_its_centre_and_probe_scores_stays_within_the_budget(monkeypatch, budget, int8):
    """Per content position a band holds its patch row (float32, or int8 codes), its scores against every centre,
    and each probe's score (4 bytes) and row (int64): together within the budget, seen from the bands
    ``patch_rows`` makes."""
    content, style = _small(5)  # 17 x 15 positions, rows of 3 x 3 x 6 = 54 values; 16 clusters, 5 probes
    assert clusters(style).centroids.shape[0] == 16
    bands, real = [], swap_module.patch_rows
    monkeypatch.setattr(swap_module, "patch_rows", lambda *args: bands.append(real(*args)) or bands[-1])
    match_approx(content, style, budget, int8=int8)
    positions = max(b.shape[0] for b in bands)
    assert sum(b.shape[0] for b in bands) == 255
    assert budget / 4 < positions * (54 * (1 if int8 else 4) + 16 * 4 + 5 * (4 + 8)) <= budget


@needs_int8
def test_int8_matching_takes_its_scale_from_the_map_however_small_its_values():
    """Content codes span int8 whatever the activations' size: a map scaled by 2^-10 gets the same codes, so the
    same matching (a power of two scales floats exactly)."""
    content, style = _small(7)
    assert torch.equal(match_approx(content * 2**-10, style, int8=True), match_approx(content, style, int8=True))


@needs_int8
def test_int8_matching_of_a_black_map_names_real_patches():
    """A black content map (all activations zero) has no scale to take from its largest value: still a matching."""
    _, style = _small(6)
    found = match_approx(torch.zeros(1, 6, 9, 9), style, int8=True)
    assert found.shape == (7, 7) and 0 <= found.min() and found.max() < style.count


@pytest.fixture(scope="module")
def features(models, astronaut, chelsea):
    """Real relu3_1 activations: a photo as content, another as style, at 192 px."""
    engine, options = Engine("cpu"), Options()
    content, _ = engine.working_image(Picture.from_array(astronaut), 192, options)
    style, _ = engine.working_image(Picture.from_array(chelsea), 192, options)
    return engine.encode(content, options), prepare_style(engine.encode(style, options))


@pytest.mark.parametrize("int8", [False, pytest.param(True, marks=needs_int8)])
def test_fast_matching_is_close_to_exact_on_real_features(features, int8):
    content, style = features
    exact, fast = match(content, style), match_approx(content, style, int8=int8)
    agreement = (exact == fast).float().mean().item()
    score_ratio = (match_scores(content, style, fast).sum() / match_scores(content, style, exact).sum()).item()
    assert agreement > 0.8
    assert 0.99 < score_ratio <= 1.0 + 1e-6


@needs_int8
def test_probing_every_cluster_is_exact_and_int8_loses_only_near_ties(features):
    content, style = features
    small = prepare_style(style.features[None, :, :12, :12])  # 100 patches in 8 clusters
    exact = match(content, small)
    assert torch.equal(match_approx(content, small, probes=100), exact)
    rounded = match_approx(content, small, probes=100, int8=True)
    assert 0.9 < (rounded == exact).float().mean().item() < 1.0
    assert match_scores(content, small, rounded).sum() / match_scores(content, small, exact).sum() > 0.999


@needs_int8
def test_int8_rows_score_like_the_float_rows():
    torch.manual_seed(0)
    rows, queries = torch.randn(300, 2304), torch.rand(50, 2304)
    codes = Int8Rows.of(rows)
    assert codes.values.dtype == torch.int8 and codes.values.abs().max() == 127
    scale = 127 / queries.abs().max()
    scores = codes.scores((queries * scale).round().to(torch.int8)) / scale
    exact = queries @ rows.t()
    assert ((scores - exact).norm() / exact.norm()).item() < 0.01


@needs_int8
def test_int8_rows_grouped_share_their_groups_scale_and_score_alike():
    torch.manual_seed(0)
    rows, queries = torch.randn(300, 2304), torch.rand(50, 2304)
    rows /= rows.norm(dim=1, keepdim=True)  # unit rows, as the normalised style patches are
    bounds = [0, 40, 41, 200, 300]
    codes = Int8Rows.of(rows, bounds)
    for a, b in zip(bounds, bounds[1:]):
        assert torch.all(codes.scales[a:b] == rows[a:b].abs().max() / 127)
        assert codes.values[a:b].abs().max() == 127
    assert len(torch.unique(codes.scales)) == 4
    scale = 127 / queries.abs().max()
    quantised = (queries * scale).round().to(torch.int8)
    assert torch.equal(codes.scores(quantised), codes.codes(quantised) * codes.scales)
    exact = queries @ rows.t()
    error = ((codes.scores(quantised) / scale - exact).norm() / exact.norm()).item()
    per_row = ((Int8Rows.of(rows).scores(quantised) / scale - exact).norm() / exact.norm()).item()
    assert per_row < error < 1.3 * per_row < 0.015  # coarser than a scale per row, by little


def test_clusters_are_kept_with_the_style_and_partition_it(features):
    style = prepare_style(features[1].features[None])  # fresh: no clusters yet
    before, original, exact = style.nbytes, style.normalised.clone(), match(features[0], style)
    first = clusters(style)
    assert clusters(style) is first
    assert first.centroids.shape[0] == round(CLUSTERS_PER_ROOT * style.count**0.5) and first.bounds[-1] == style.count
    assert all(a < b for a, b in zip(first.bounds, first.bounds[1:]))  # no empty cluster is probed
    assert torch.equal(style.normalised, original[first.order]) and torch.equal(style.filters(torch.arange(style.count)), original)
    assert torch.equal(match(features[0], style), exact)  # exact matching names the same patches after regrouping
    assert style.nbytes > before


def test_auto_uses_fast_matching_only_for_large_cpu_work_in_int8_with_that_precision(models):
    style = prepare_style(torch.rand(1, 256, 70, 70))
    for precision in ("int8", "float32") if int8_available() else ("float32",):
        engine = Engine("cpu", precision=precision)
        assert engine.matcher(Options(), torch.rand(1, 256, 10, 10), style) is match
        fast = engine.matcher(Options(), torch.rand(1, 256, 128, 128), style)
        assert fast.func is match_approx and fast.keywords == {"int8": precision == "int8"}
        assert engine.matcher(Options(match="exact"), torch.rand(1, 256, 128, 128), style) is match


def test_a_centre_of_opposed_patches_still_has_unit_norm():
    """Two patches nearly opposite (cosine -0.96) in one cluster sum to a vector of norm 0.28: the centre is that sum
    scaled to unit norm, as scoring against centres assumes, not left short."""
    row = torch.tensor([1.0, -1.0, 1.0, -0.5])  # patches (1, -1, 1) and (-1, 1, -0.5), repeated over 3 rows
    style = prepare_style(row.expand(1, 1, 3, 4).contiguous())
    assert style.count == 2 and (style.normalised[0] @ style.normalised[1]).item() < -0.95
    index = clusters(style)
    assert index.centroids.shape[0] == 1
    torch.testing.assert_close(index.centroids.norm(dim=1), torch.ones(1))


def _reference_kmeans(rows: np.ndarray, count: int, steps: int, sample_size: int) -> np.ndarray:
    """Spherical k-means as the docs describe it, in numpy: a sample of ``sample_size`` rows in the order of a
    permutation seeded with 0, its first ``count`` rows as the first centres, ``steps`` Lloyd steps, a centre left
    without rows restarted on a row drawn from the same generator."""
    generator = torch.Generator().manual_seed(0)
    sample = rows[torch.randperm(len(rows), generator=generator).numpy()[:sample_size]]
    centres = sample[:count].copy()
    for _ in range(steps):
        nearest = (sample @ centres.T).argmax(1)
        sums = np.zeros_like(centres)
        np.add.at(sums, nearest, sample)
        empty = np.bincount(nearest, minlength=count) == 0
        if empty.any():
            sums[empty] = sample[torch.randperm(len(sample), generator=generator).numpy()[: empty.sum()]]
        centres = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    return centres


def test_centres_are_eight_lloyd_steps_on_a_sample_of_16384_patches():
    """The clusters (so which patches approximate matching scores) follow from the documented k-means exactly:
    a style of 16 641 patches in float64, where rounding cannot flip a choice, against an independent numpy
    implementation. A step more or less, or a sample one patch larger or smaller, gives other centres."""
    features = torch.rand(1, 2, 131, 131, generator=torch.Generator().manual_seed(131), dtype=torch.float64) - 0.5
    style = prepare_style(features)
    count = round(CLUSTERS_PER_ROOT * style.count**0.5)
    assert style.count == 16641 and count == 103
    rows = style.normalised.numpy()
    expected = _reference_kmeans(rows, count, 8, 16384)
    np.testing.assert_allclose(approx_match._spherical_kmeans(style.normalised, count).numpy(), expected, rtol=0, atol=1e-12)
    for steps, sample_size in ((7, 16384), (9, 16384), (8, 16383), (8, 16385)):  # the test can tell these apart
        assert np.abs(_reference_kmeans(rows, count, steps, sample_size) - expected).max() > 1e-6
