"""The encoder in int8 on x86 CPUs with VNNI, for the activations whose only job is to choose style patches.

Matching asks which style patch correlates best with each content patch. An int8 copy of the encoder (oneDNN's
u8 x s8 convolutions, weights scaled per output channel, activations with one scale per layer) answers that about
3.5x faster than float32 on a CPU with VNNI, and changes the answer only between near-tied patches: at 512 px it
moves relu3_1 by 4-6 % (relative L2), and exact matching of its activations keeps 99.98 % of the correlation score
of float32's. The style's activations, which the result is made of, and the inverse network stay float32
(an int8 front half of the inverse network was 50 ms faster at 512 px but raised the swap objective by 1.5 %).

The activation scales are calibrated on our training images (``styleswap calibrate-int8``) and shipped in
``weights/encoder_int8_scales.json``, for the encoder the inverse network reads (VGG-19 normalised, max pooling):
the others are slower choices for optimisation and encode in float.
"""

from __future__ import annotations

import json
import os
import warnings
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.ao.nn.intrinsic.quantized import ConvReLU2d

from styleswap.encoder import Encoder
from styleswap.errors import StyleSwapError

SCALES_FILE = "encoder_int8_scales.json"
PERCENTILE = 0.9999  # of each layer's activations: the top 0.01 % saturate, the rest get finer steps
_SAMPLE = 1 << 24  # activations per layer the percentile is taken over (torch.quantile's limit)
_KEEP_EVERY = 7  # of each calibration image's activations (copied out, so the full maps are freed)


@contextmanager
def _quiet() -> Iterator[None]:
    """oneDNN's int8 kernels are reached through torch.ao's quantized modules, which torch has deprecated in favour
    of compiled graphs; they still run eagerly and need no compiler, as a desktop service must. Their deprecation
    warnings are silenced where they are used."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*quantiz.*deprecated")
        yield


class Int8Encoder(nn.Module):
    """Float RGB (1, 3, H, W) in [0, 1] to dequantised float32 activations at the float encoder's layer.

    The input is quantised in steps of 1/255, exact for 8-bit pictures; the float encoder's preprocessing (a 1x1
    conv) is folded into conv1_1, which reflection padding allows since padding commutes with a per-pixel map."""

    def __init__(self, encoder: Encoder, scales: dict[str, float]) -> None:
        super().__init__()
        with _quiet():
            self._build(encoder, scales)

    def _build(self, encoder: Encoder, scales: dict[str, float]) -> None:
        if encoder.conv1_1.padding_mode != "reflect":
            raise StyleSwapError("the int8 encoder folds the preprocessing into conv1_1, which needs reflection padding")
        self.stride = encoder.stride
        convs = {name: (weight, bias) for name, weight, bias in _folded_convs(encoder)}
        self.steps = nn.ModuleList()
        for name, module in encoder.named_children():  # conv, relu (fused below), pool, ... in order
            if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
                self.steps.append(module)
            elif name in convs:
                weight, bias = convs[name]
                self.steps.append(ReflectPad())
                conv = ConvReLU2d(weight.shape[1], weight.shape[0], 3)
                per_channel = (weight.abs().amax((1, 2, 3)).clamp_min(1e-12) / 127).double()
                zeros = torch.zeros(weight.shape[0], dtype=torch.long)
                conv.set_weight_bias(torch.quantize_per_channel(weight.float(), per_channel, zeros, 0, torch.qint8), bias.float())
                conv.scale, conv.zero_point = scales[name], 0
                self.steps.append(conv)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        with _quiet():
            x = torch.quantize_per_tensor(rgb.float().contiguous(memory_format=torch.channels_last), 1 / 255, 0, torch.quint8)
            for step in self.steps:
                x = step(x)
        return x.dequantize()


class ReflectPad(nn.Module):
    """Reflection padding of a quantized map by one cell, done on its uint8 codes: torch's quantized padding is a
    slow generic copy that also drops the channels-last layout (it cost as much as the convolutions)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        codes = F.pad(x.int_repr(), (1, 1, 1, 1), mode="reflect")
        return torch._make_per_tensor_quantized_tensor(codes, x.q_scale(), x.q_zero_point())


def _folded_convs(encoder: Encoder) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, weight, bias) of each conv, with the preprocessing 1x1 conv folded into the first."""
    convs = [(name, module.weight.detach(), module.bias.detach()) for name, module in encoder.named_children() if name.startswith("conv")]
    name, weight, bias = convs[0]
    mix, shift = encoder.preprocess.weight[:, :, 0, 0].to(weight.dtype), encoder.preprocess.bias.to(weight.dtype)
    folded = (name, torch.einsum("oiyx,ij->ojyx", weight, mix), bias + torch.einsum("oiyx,i->o", weight, shift))
    return [folded, *convs[1:]]


def calibrate(encoder: Encoder, images: list[torch.Tensor], percentile: float = PERCENTILE) -> dict[str, float]:
    """Each conv's output scale (its activations' ``percentile`` over ``images``, over the 255 steps of uint8),
    measured with the float encoder whose int8 copy will use them."""
    seen: dict[str, list[torch.Tensor]] = {}
    hooks = [
        getattr(encoder, "relu" + name[4:]).register_forward_hook(lambda _m, _i, out, name=name: seen.setdefault(name, []).append(out.detach().flatten()[::_KEEP_EVERY].float().clone()))
        for name, _, _ in _folded_convs(encoder)
    ]
    try:
        with torch.no_grad():
            for image in images:
                encoder(image.to(next(encoder.parameters()).dtype))
    finally:
        for hook in hooks:
            hook.remove()
    scales = {}
    for name, parts in seen.items():
        values = torch.cat(parts)
        if values.numel() > _SAMPLE:
            values = values[torch.randperm(values.numel(), generator=torch.Generator().manual_seed(0))[:_SAMPLE]]
        scales[name] = max(float(torch.quantile(values, percentile)), 1e-6) / 255
    return scales


def scales_key(profile: str, pooling: str) -> str:
    return f"{profile}/{pooling}"


def bundled_scales() -> Path:
    return Path(str(resources.files("styleswap") / "weights" / SCALES_FILE))


def load_scales(profile: str, pooling: str, path: str | os.PathLike | None = None) -> dict[str, float] | None:
    """The shipped activation scales for this encoder, or None when it was not calibrated (it then runs in float)."""
    with open(path or bundled_scales(), encoding="utf-8") as f:
        return json.load(f)["scales"].get(scales_key(profile, pooling))
