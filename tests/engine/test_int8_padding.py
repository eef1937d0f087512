"""Padding of int8 maps on their codes, written straight into a new quantized map: the codes torch's own padding
would give, the map's scale and zero point, oneDNN's channels-last layout, and the input left as it was."""

import pytest
import torch
import torch.nn.functional as F

from styleswap.engine.int8 import CodePad, codes_of, quiet


@pytest.mark.parametrize("layout", [torch.channels_last, torch.contiguous_format])
@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_padded_codes_are_torchs_padding_of_the_codes_in_onednns_layout(mode, layout):
    torch.manual_seed(0)
    values = (torch.rand(2, 5, 4, 7) * 4.9 - 0.15).contiguous(memory_format=layout)  # a batch of two, odd sides; codes 1-254
    with quiet():
        x = torch.quantize_per_tensor(values, 0.02, 9, torch.quint8)
        before = x.int_repr().clone()
        padded = CodePad(mode)(x)
    assert padded.shape == (2, 5, 6, 9)
    assert (padded.q_scale(), padded.q_zero_point()) == (0.02, 9)
    assert padded.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(padded.int_repr(), F.pad(before, (1, 1, 1, 1), mode=mode))
    assert torch.equal(x.int_repr(), before)
    assert len(torch.unique(before)) > 80  # of 280: varied codes, so a wrong offset or layout shows


def test_codes_share_the_maps_memory():
    with quiet():
        x = torch.quantize_per_tensor(torch.linspace(0, 1, 24).view(1, 2, 3, 4), 1 / 255, 0, torch.quint8)
    codes = codes_of(x)
    assert torch.equal(codes, x.int_repr())
    codes[0, 1, 2, 3] = 7
    assert x.int_repr()[0, 1, 2, 3] == 7
