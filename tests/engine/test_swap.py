import pytest
import torch
import torch.nn.functional as F

from styleswap.engine import swap as swap_module
from styleswap.engine.approx_match import clusters, int8_codes
from styleswap.engine.errors import StyleSwapError
from styleswap.engine.swap import Int8Rows, match, match_scores, prepare_style, reconstruct, swap, to_int8
from styleswap.tools.baseline import dense_swap


def _pad_like_swap(content, k, s):
    h, w = content.shape[-2:]
    return F.pad(content, (0, (-(w - k)) % s, 0, (-(h - k)) % s), mode="reflect")


@pytest.mark.parametrize(
    "k,s,content_hw,style_hw",
    [(3, 1, (23, 17), (15, 19)), (5, 2, (21, 18), (16, 13)), (3, 3, (18, 20), (12, 15)), (1, 1, (6, 5), (4, 7)), (4, 3, (19, 22), (13, 11)), (4, 3, (20, 20), (13, 11)), (4, 3, (20, 19), (13, 11))],
)
@pytest.mark.parametrize("budget", [3_000, 200_000, 1 << 30])
def test_swap_equals_dense_reference(k, s, content_hw, style_hw, budget):
    """Chunked GEMM + running argmax + gather/fold gives exactly the paper's conv/argmax/transposed-conv result."""
    gen = torch.Generator().manual_seed(k * 100 + s)
    content = torch.randn(1, 16, *content_hw, generator=gen, dtype=torch.float64).relu()
    style = torch.randn(1, 16, *style_hw, generator=gen, dtype=torch.float64).relu()
    patches = prepare_style(style, k, s)
    padded = _pad_like_swap(content, k, s)
    reference, reference_index = dense_swap(padded, style, k, s)
    assert torch.equal(match(padded, patches, budget), reference_index)
    ours = swap(content, patches, budget)
    assert ours.shape == content.shape
    torch.testing.assert_close(ours, reference[:, :, : content_hw[0], : content_hw[1]], rtol=0, atol=1e-12)


def test_small_budget_really_chunks_and_agrees():
    """With a budget of a few KB the style patches are split into many blocks; the argmax must survive that."""
    gen = torch.Generator().manual_seed(1)
    content = torch.rand(1, 8, 30, 30, generator=gen)
    style = torch.rand(1, 8, 30, 30, generator=gen)
    patches = prepare_style(style)
    assert patches.count == 28 * 28
    whole = match(content, patches, 1 << 30)
    chunked = match(content, patches, 8 * 1024)
    assert torch.equal(whole, chunked)
    assert whole.unique().numel() > 50  # a real matching, not a constant


def test_score_blocks_split_positions_and_patches_and_agree(monkeypatch):
    """Whatever the budget, one GEMM scores at most SCORE_BLOCK (positions, patches); the argmax spans the blocks."""
    gen = torch.Generator().manual_seed(2)
    content = torch.rand(1, 8, 30, 30, generator=gen, dtype=torch.float64)
    style = torch.rand(1, 8, 30, 30, generator=gen, dtype=torch.float64)
    _, reference = dense_swap(content, style, 3, 1)
    monkeypatch.setattr(swap_module, "SCORE_BLOCK", (37, 29))  # 784 positions x 784 patches: 22 x 28 blocks
    assert torch.equal(match(content, prepare_style(style), 1 << 30), reference)


def test_swap_of_style_onto_itself_is_identity():
    """Every style patch best matches itself, so swapping a style map with its own patches returns it unchanged."""
    style = torch.rand(1, 8, 12, 14, generator=torch.Generator().manual_seed(2)) + 0.1
    patches = prepare_style(style, 3, 1)
    torch.testing.assert_close(swap(style, patches), style, rtol=0, atol=1e-6)


def test_reconstruct_averages_overlaps():
    """Two 1-channel 2x2 patches of constant 0 and 6 placed side by side overlap in one column: its mean is 3."""
    style = torch.tensor([[[[0.0, 0.0, 6.0, 6.0], [0.0, 0.0, 6.0, 6.0]]]])
    patches = prepare_style(style, 2, 1)  # patches at x = 0, 1, 2
    out = reconstruct(torch.tensor([[0, 2]]), patches, 2, 3)
    assert out[0, 0].tolist() == [[0.0, 3.0, 6.0], [0.0, 3.0, 6.0]]


def test_too_small_and_bad_geometry_are_clear_errors():
    with pytest.raises(StyleSwapError, match="too small"):
        prepare_style(torch.rand(1, 4, 2, 9), 3)
    with pytest.raises(StyleSwapError, match="stride"):
        prepare_style(torch.rand(1, 4, 9, 9), 3, 4)
    for k, s in ((0, 1), (3, 0)):
        with pytest.raises(StyleSwapError, match="at least 1"):
            prepare_style(torch.rand(1, 4, 9, 9), k, s)


@pytest.mark.parametrize("rows_per_block", [0, 1, 2, 5])  # 0: a block smaller than one row still takes one
def test_patch_fold_in_several_blocks_equals_dense_reference(monkeypatch, rows_per_block):
    """The fold gathers a block of patch rows at a time (a few at the default 1024 px size): every block must put
    back its own rows' patches. The block is lowered here so a small map is folded in many blocks."""
    gen = torch.Generator().manual_seed(7)
    content = torch.randn(1, 8, 17, 13, generator=gen, dtype=torch.float64).relu()
    style = torch.randn(1, 8, 15, 16, generator=gen, dtype=torch.float64).relu()
    for k, s in ((3, 1), (4, 2)):
        padded = _pad_like_swap(content, k, s)
        cols = (padded.shape[3] - k) // s + 1
        monkeypatch.setattr(swap_module, "_FOLD_BLOCK", rows_per_block * cols * 8)
        reference, _ = dense_swap(padded, style, k, s)
        ours = swap(content, prepare_style(style, k, s))
        torch.testing.assert_close(ours, reference[:, :, :17, :13], rtol=0, atol=1e-12)


def test_exact_ties_go_to_the_first_style_patch_as_in_the_dense_reference(monkeypatch):
    """A flat style region gives many identical patches, so exact score ties: like the dense reference's argmax,
    the first of the tied patches wins, also when the tied patches lie in different score blocks.

    Values are chosen so every score is exact in float32 (unit patches of 16 ones have norm 4, the content holds
    small integers), whatever order a GEMM or a convolution sums in."""
    gen = torch.Generator().manual_seed(3)
    style = torch.ones(1, 4, 12, 12)
    style[:, :, :, 6:] = torch.randint(0, 4, (1, 4, 12, 6), generator=gen).float()  # right half: textured
    content = torch.randint(1, 4, (1, 4, 10, 10), generator=gen).float()
    _, reference = dense_swap(content, style, 2, 1)
    patches = prepare_style(style, 2, 1)
    flat = [n for n in range(patches.count) if n % patches.grid_width < 5]  # patches wholly in the flat half
    assert (reference.unsqueeze(-1) == torch.tensor(flat)).any(-1).sum() >= 10  # many positions pick a flat patch
    assert reference.view(-1)[(reference.view(-1) % patches.grid_width < 5)].unique().tolist() == [0]  # the first
    for score_block in ((7, 3), (100, 11), (4096, 2048)):
        monkeypatch.setattr(swap_module, "SCORE_BLOCK", score_block)
        for budget in (1 << 30, 2_000):
            assert torch.equal(match(content, patches, budget), reference)


def test_swap_reports_the_share_of_scores_done_after_each_gemm(monkeypatch):
    """``progress`` gets, after each GEMM, the share of all (content position, style patch) scores computed so far."""
    gen = torch.Generator().manual_seed(5)
    content = torch.rand(1, 8, 20, 17, generator=gen)  # 18 x 15 = 270 positions
    style = prepare_style(torch.rand(1, 8, 15, 16, generator=gen))  # 13 x 14 = 182 patches
    monkeypatch.setattr(swap_module, "SCORE_BLOCK", (100, 80))  # positions 0-100-200-270 x patches 0-80-160-182
    seen = []
    swap(content, style, 1 << 30, progress=seen.append)
    expected = [(p0 * 182 + (p1 - p0) * n1) / (270 * 182) for p0, p1 in ((0, 100), (100, 200), (200, 270)) for n1 in (80, 160, 182)]
    assert seen == pytest.approx(expected, rel=1e-12) and seen[-1] == 1.0


def test_swap_progress_rises_to_one_whatever_the_split():
    gen = torch.Generator().manual_seed(6)
    content, style = torch.rand(1, 8, 20, 17, generator=gen), prepare_style(torch.rand(1, 8, 15, 16, generator=gen))
    seen = []
    swap(content, style, 30_000, progress=seen.append)  # bands of a few rows, blocks of a few dozen patches
    assert len(seen) > 10 and all(a < b for a, b in zip(seen, seen[1:])) and seen[-1] == pytest.approx(1.0, abs=1e-12)


def test_nbytes_counts_every_tensor_a_prepared_style_holds():
    """The daemon's style cache is bounded by ``nbytes``: each tensor counted once at its own element size."""
    style = prepare_style(torch.rand(1, 8, 12, 10, generator=torch.Generator().manual_seed(8)), 3, 1)  # 10 x 8 = 80 patches of 72
    assert style.nbytes == (8 * 12 * 10 + 80 * 72) * 4
    assert Int8Rows.of(style.normalised).nbytes == 80 * 72 + 80 * 4  # a byte per code, a float32 scale per row
    centres = clusters(style).centroids.shape[0]
    with_clusters = (8 * 12 * 10 + 80 * 72 + centres * 72) * 4 + 2 * 80 * 8  # + centres, order and rows (int64)
    assert style.nbytes == with_clusters
    int8_codes(style)
    assert style.nbytes == with_clusters + (centres * 72 + centres * 4) + (80 * 72 + 80 * 4)


@pytest.mark.parametrize("block", [2 * 6, 1])  # two rows of 6 elements; less than one row (then one row at a time)
@pytest.mark.parametrize("scale", [torch.tensor([0.5, 2.0, 3.0, 10.0, 1.0, 7.0, 0.25]), 3.0])
def test_to_int8_rounds_every_block_of_rows(monkeypatch, scale, block):
    """Rows are rounded a block at a time (4M elements at once): with the block lowered here, every block, the last
    partial one too, gets its own rows' scale."""
    monkeypatch.setattr(swap_module, "_INT8_BLOCK", block)
    x = torch.randn(7, 2, 3, generator=torch.Generator().manual_seed(9)) * 4
    expected = (x * (scale[:, None, None] if isinstance(scale, torch.Tensor) else scale)).round().to(torch.int8)
    assert torch.equal(to_int8(x, scale[:, None, None] if isinstance(scale, torch.Tensor) else scale), expected)


@pytest.mark.parametrize("k,s", [(3, 1), (4, 2), (2, 2)])
def test_a_map_exactly_one_patch_high_or_wide_is_enough(k, s):
    """The smallest maps swap: height or width equal to the patch size (one row or column of patches)."""
    gen = torch.Generator().manual_seed(10)
    content = torch.rand(1, 4, k, 9, generator=gen, dtype=torch.float64)
    style = torch.rand(1, 4, 7, k, generator=gen, dtype=torch.float64)
    padded = _pad_like_swap(content, k, s)
    reference, _ = dense_swap(padded, style, k, s)
    torch.testing.assert_close(swap(content, prepare_style(style, k, s)), reference[:, :, :k, :9], rtol=0, atol=1e-12)


@pytest.mark.parametrize("budget", [8_000, 20_000, 100_000, 400_000])  # 8000: one row of positions fits
def test_a_band_and_its_scores_stay_within_the_memory_budget(monkeypatch, budget):
    """The budget bounds one band of unfolded content patches plus its block of scores: the band's rows are seen
    as ``patch_rows`` makes them, the block's width from the first progress report (its share of all scores)."""
    gen = torch.Generator().manual_seed(11)
    content = torch.rand(1, 8, 30, 23, generator=gen)  # 28 x 21 = 588 positions, rows of 3 x 3 x 8 = 72 floats
    style = prepare_style(torch.rand(1, 8, 20, 20, generator=gen))  # 324 patches
    bands, real = [], swap_module.patch_rows
    monkeypatch.setattr(swap_module, "patch_rows", lambda *args: bands.append(real(*args)) or bands[-1])
    seen = []
    match(content, style, budget, progress=seen.append)
    positions = bands[0].shape[0]
    block = round(seen[0] * 588 * 324 / positions)  # style patches scored by the first GEMM
    assert sum(b.shape[0] for b in bands) == 588 and 1 <= block <= 324
    assert budget / 4 < positions * (72 + block) * 4 <= budget  # the band's rows and its scores, float32


def test_match_scores_are_each_positions_correlation_with_its_patch():
    """Per content position: its patch dotted with the unit-norm style patch it was given (F.unfold as reference)."""
    gen = torch.Generator().manual_seed(12)
    content = torch.rand(1, 4, 7, 6, generator=gen, dtype=torch.float64)
    style = torch.rand(1, 4, 6, 8, generator=gen, dtype=torch.float64)
    indices = torch.randint(0, 4 * 6, (5, 4), generator=gen)
    rows, columns = F.unfold(content, 3)[0].t(), F.unfold(style, 3)[0].t()  # (20, 36), (24, 36)
    expected = (rows * columns[indices.view(-1)] / columns[indices.view(-1)].norm(dim=1, keepdim=True)).sum(1)
    torch.testing.assert_close(match_scores(content, prepare_style(style), indices), expected, rtol=1e-6, atol=0)  # the norm has an epsilon


def test_int8_rows_of_zeros_are_zero_codes_with_a_positive_scale():
    """A zero row (a black patch) has no largest value to scale by: its codes are zeros, its scale stays positive."""
    codes = Int8Rows.of(torch.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]]))
    assert codes.values.tolist() == [[0, 0, 0], [64, -127, 32]] and bool((codes.scales > 0).all())


def test_faint_style_patches_are_scaled_to_at_most_unit_norm():
    """Near-black style regions give patches whose norm is about the epsilon that keeps a zero patch from dividing
    by zero: they are scaled towards unit norm but never past it, so a faint patch cannot outscore a full one."""
    columns = torch.logspace(-10, -6, 400, dtype=torch.float64).float()  # patch norms from ~2e-10 to ~5e-6
    style = prepare_style(columns.expand(1, 1, 3, 400).contiguous())
    norms = style.normalised.double().norm(dim=1)
    assert torch.isfinite(style.normalised).all() and norms.max() <= 1 + 1e-6
    assert norms.min() < 0.1 < 0.9 < norms.max()  # the range does cross the epsilon
    full = torch.ones(1, 1, 3, 3)  # a content patch along the faint patches' direction (all positive)
    best = match(full, prepare_style(torch.cat([columns.expand(1, 1, 3, 400), torch.ones(1, 1, 3, 3)], 3)))
    assert best.item() == 400  # the full patch at the end wins over all 398 faint ones
