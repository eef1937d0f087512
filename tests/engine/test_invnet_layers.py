"""The inverse network's fast layers compute exactly what the plain layers they replace compute, gradients included,
so weights trained either way are interchangeable."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from styleswap.engine import invnet
from styleswap.engine.invnet import TapSumConv, UpsampleConv


def _plain(layer: nn.Conv2d, x: torch.Tensor, upsample: bool) -> torch.Tensor:
    if upsample:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), layer.weight, layer.bias)


@pytest.mark.parametrize(("layer", "upsample"), [(UpsampleConv(16, 24), True), (TapSumConv(16, 3), False)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_fast_layer_equals_the_plain_conv_with_gradients(layer, upsample, channels_last):
    torch.manual_seed(0)
    nn.init.normal_(layer.weight, std=0.2)
    nn.init.normal_(layer.bias)
    x = torch.randn(2, 16, 7, 10)  # odd and even sides, a batch of two
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    fast, plain = layer(x), _plain(layer, x, upsample)
    assert fast.shape == plain.shape == (2, layer.out_channels, 14 if upsample else 7, 20 if upsample else 10)
    assert (fast - plain).abs().max().item() < 1e-5
    upstream = torch.randn_like(plain)
    grads = torch.autograd.grad((fast * upstream).sum(), [x, layer.weight, layer.bias])
    plain_grads = torch.autograd.grad((plain * upstream).sum(), [x, layer.weight, layer.bias])
    for got, want in zip(grads, plain_grads):
        assert ((got - want).norm() / want.norm()).item() < 1e-5


@pytest.mark.parametrize("zero_point", [0, 7])
def test_tap_sum_conv_of_codes_equals_the_plain_conv_of_their_values(zero_point, monkeypatch):
    """The int8 network's RGB conv reads uint8 codes in bands of rows; two and a half bands here, a batch of two."""
    monkeypatch.setattr(invnet, "_BAND_VALUES", 2 * 10 * 16)
    torch.manual_seed(0)
    layer = TapSumConv(16, 3)
    nn.init.normal_(layer.weight, std=0.2)
    codes = torch.randint(0, 256, (2, 5, 10, 16), dtype=torch.uint8).permute(0, 3, 1, 2)  # channels last
    values = (codes.float() - zero_point) * 0.05
    with torch.no_grad():
        got, want = layer.forward_codes(codes, 0.05, zero_point), _plain(layer, values, upsample=False)
    assert got.shape == (2, 3, 5, 10)
    assert (got - want).abs().max().item() < 1e-6 * want.abs().max().item()  # float32 rounding of sums near 30
