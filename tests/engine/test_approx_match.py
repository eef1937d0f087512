import pytest
import torch

from int8_marks import needs_int8
from styleswap.engine.approx_match import CLUSTERS_PER_ROOT, clusters, match_approx
from styleswap.engine.devices import int8_available
from styleswap.engine.images import Picture
from styleswap.engine.stylize import Engine, Options
from styleswap.engine.swap import Int8Rows, match, match_scores, prepare_style


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
