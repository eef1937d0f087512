"""Colour preservation against BT.601 written out here: the result has the stylised image's luma and the
content's chroma."""

import numpy as np
import torch

from styleswap.engine.color import keep_content_colour, luminance

LUMA = np.array([0.299, 0.587, 0.114])


def ycbcr(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB in [0, 1] to BT.601 full-range Y, Cb, Cr with the chroma centred on 0."""
    y = rgb @ LUMA
    return np.stack([y, (rgb[..., 2] - y) / 1.772, (rgb[..., 0] - y) / 1.402], axis=-1)


def as_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb).permute(2, 0, 1)[None].float()


def test_a_grey_stylised_image_takes_the_content_colour_at_its_own_brightness():
    """A change of luma with the chroma kept adds the same amount to R, G and B: content (0.6, 0.5, 0.4) has luma
    0.5185, so at the grey 0.5's luma it is (0.5815, 0.4815, 0.3815)."""
    content = np.full((2, 3, 3), [0.6, 0.5, 0.4])
    out = keep_content_colour(as_tensor(np.full((2, 3, 3), 0.5)), as_tensor(content))
    np.testing.assert_allclose(out[0].permute(1, 2, 0).numpy(), np.full((2, 3, 3), [0.5815, 0.4815, 0.3815]), atol=1e-5)


def test_luma_from_the_stylised_image_and_chroma_from_the_content():
    rng = np.random.default_rng(4)
    stylised, content = rng.uniform(0.3, 0.7, (2, 8, 9, 3))
    content = 0.5 + 0.4 * (content - 0.5)  # colours mild enough that no channel leaves [0, 1]
    out = keep_content_colour(as_tensor(stylised), as_tensor(content))[0].permute(1, 2, 0).double().numpy()
    assert out.min() > 0 and out.max() < 1
    np.testing.assert_allclose(ycbcr(out)[..., 0], ycbcr(stylised)[..., 0], atol=2e-6)
    np.testing.assert_allclose(ycbcr(out)[..., 1:], ycbcr(content)[..., 1:], atol=2e-6)


def test_out_of_range_colours_are_clamped_to_the_unit_range():
    """Saturated red content at white's luma would need R above 1; saturated blue at black's, R and G below 0."""
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    out = keep_content_colour(torch.ones(1, 3, 2, 2), red)
    assert out.min() >= 0 and out.max() <= 1 and torch.equal(out[0, 0], torch.ones(2, 2))
    blue = torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    out = keep_content_colour(torch.zeros(1, 3, 2, 2), blue)
    assert out.min() >= 0 and out.max() <= 1 and torch.equal(out[0, :2], torch.zeros(2, 2, 2))


def test_luminance_is_bt601_luma_with_one_channel_per_image():
    """Y = 0.299 R + 0.587 G + 0.114 B (BT.601, written out here), as an (N, 1, H, W) map per image of a batch."""
    rgb = torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(5))
    expected = torch.einsum("j,njhw->nhw", torch.from_numpy(LUMA).float(), rgb)
    y = luminance(rgb)
    assert y.shape == (2, 1, 4, 5)
    torch.testing.assert_close(y[:, 0], expected, rtol=0, atol=1e-6)
