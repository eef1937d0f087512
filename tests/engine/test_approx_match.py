import pytest
import torch

from styleswap.approx_match import CLUSTERS_PER_ROOT, clusters, match_approx
from styleswap.images import Picture
from styleswap.stylize import Engine, Options
from styleswap.swap import match, match_scores, prepare_style


@pytest.fixture(scope="module")
def features(models, astronaut, chelsea):
    """Real relu3_1 activations: a photo as content, another as style, at 192 px."""
    engine, options = Engine("cpu"), Options()
    content, _ = engine.working_image(Picture.from_array(astronaut), 192, options)
    style, _ = engine.working_image(Picture.from_array(chelsea), 192, options)
    return engine.encode(content, options), prepare_style(engine.encode(style, options))


def test_fast_matching_is_close_to_exact_on_real_features(features):
    content, style = features
    exact, fast = match(content, style), match_approx(content, style)
    agreement = (exact == fast).float().mean().item()
    score_ratio = (match_scores(content, style, fast).sum() / match_scores(content, style, exact).sum()).item()
    assert agreement > 0.8
    assert 0.99 < score_ratio <= 1.0 + 1e-6


def test_probing_every_cluster_is_exact(features):
    content, style = features
    small = prepare_style(style.features[None, :, :12, :12])  # 100 patches in 8 clusters
    assert torch.equal(match_approx(content, small, probes=100), match(content, small))


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


def test_auto_uses_fast_matching_only_for_large_cpu_work(models):
    engine = Engine("cpu")
    style = prepare_style(torch.rand(1, 256, 70, 70))
    assert engine.matcher(Options(), torch.rand(1, 256, 10, 10), style) is match
    assert engine.matcher(Options(), torch.rand(1, 256, 128, 128), style) is match_approx
    assert engine.matcher(Options(match="exact"), torch.rand(1, 256, 128, 128), style) is match
