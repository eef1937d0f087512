"""int8 building blocks for x86 CPUs with VNNI: oneDNN's u8 x s8 convolutions reached through torch.ao's quantized
modules, their padding, and the file of calibrated activation ranges the package ships with them."""

from __future__ import annotations

import json
import os
import warnings
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Iterator

import torch
from torch import nn
from torch.ao.nn.intrinsic.quantized import ConvReLU2d
from torch.ao.nn.quantized import Conv2d as QuantizedConv2d

SCALES_FILE = "int8_scales.json"


@contextmanager
def quiet() -> Iterator[None]:
    """oneDNN's int8 kernels are reached through torch.ao's quantized modules, which torch has deprecated in favour
    of compiled graphs; they still run eagerly and need no compiler, as a desktop service must. Their deprecation
    warnings are silenced where they are used."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*quantiz.*deprecated")
        yield


def quantized_conv(weight: torch.Tensor, bias: torch.Tensor, scale: float, zero_point: int = 0, relu: bool = True) -> nn.Module:
    """An unpadded int8 conv (ReLU fused) with weights scaled per output channel, writing uint8 codes of ``scale``
    and ``zero_point``; call inside ``quiet``."""
    conv = (ConvReLU2d if relu else QuantizedConv2d)(weight.shape[1], weight.shape[0], tuple(weight.shape[2:]))
    per_channel = (weight.detach().abs().amax((1, 2, 3)).clamp_min(1e-12) / 127).double()
    zeros = torch.zeros(weight.shape[0], dtype=torch.long)
    conv.set_weight_bias(torch.quantize_per_channel(weight.detach().float(), per_channel, zeros, 0, torch.qint8), bias.detach().float())
    conv.scale, conv.zero_point = scale, zero_point
    return conv


def quantize(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Float activations as uint8 codes spanning [min(low, 0), high], channels last (oneDNN's int8 layout)."""
    scale, zero_point = affine(low, high)
    x = x.float().contiguous(memory_format=torch.channels_last)
    if x.shape[0] == 1:  # a batch of one may carry any batch stride; all but the dense one send torch to a slow generic loop
        x = x.as_strided(x.shape, (x.numel(), *x.stride()[1:]))
    return torch.quantize_per_tensor(x, scale, zero_point, torch.quint8)


def affine(low: float, high: float) -> tuple[float, int]:
    """Scale and zero point of uint8 codes spanning [min(low, 0), high]: zero stays exact, as padding and ReLU need."""
    low = min(low, 0.0)
    scale = max(high - low, 1e-6) / 255
    return scale, round(-low / scale)


class CodePad(nn.Module):
    """Padding of a quantized map by one cell (``reflect`` or ``replicate``), done on its uint8 codes: torch's
    quantized padding is a slow generic copy that also drops the channels-last layout (it cost as much as the
    convolutions)."""

    def __init__(self, mode: str = "reflect") -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.codes(codes_of(x), x.q_scale(), x.q_zero_point())

    def codes(self, codes: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
        """Padded uint8 ``codes`` (N, C, H, W) as a quantized map of ``scale`` and ``zero_point``, written straight
        into its memory: through ``int_repr`` and back, each copying the map, a pad took several
        times as long."""
        codes = codes.contiguous(memory_format=torch.channels_last)  # the padding writes in its input's layout
        n, c, h, w = codes.shape
        out = torch._empty_affine_quantized((n, c, h + 2, w + 2), scale=scale, zero_point=zero_point, dtype=torch.quint8, memory_format=torch.channels_last)
        pad = torch._C._nn.reflection_pad2d if self.mode == "reflect" else torch._C._nn.replication_pad2d
        pad(codes, (1, 1, 1, 1), out=codes_of(out))
        return out


def codes_of(x: torch.Tensor) -> torch.Tensor:
    """The uint8 codes of quantized ``x``, sharing its memory (``int_repr`` copies them)."""
    return torch.empty(0, dtype=torch.uint8, device=x.device).set_(x.untyped_storage(), x.storage_offset(), x.shape, x.stride())


def bundled_scales() -> Path:
    return Path(str(resources.files("styleswap.engine") / "weights" / SCALES_FILE))


def load_calibration(section: str, key: str, path: str | os.PathLike | None = None) -> dict | None:
    """One network's calibration from a scales file (the shipped one by default), or None when it has none. The
    file holds a section per kind of network (``encoder``, ``inverse``): its ``about`` and its ``calibrations`` by
    network."""
    with open(path or bundled_scales(), encoding="utf-8") as f:
        return json.load(f).get(section, {}).get("calibrations", {}).get(key)
