"""The encoder in int8 on x86 CPUs with VNNI, for the activations whose only job is to choose style patches.

Matching asks which style patch correlates best with each content patch. An int8 copy of the encoder (oneDNN's
u8 x s8 convolutions, weights scaled per output channel, activations with one scale per layer) answers that several
times faster than float32 on a CPU with VNNI, and changes the answer only between near-tied patches (how much: see
docs/benchmarks.md). The style's activations, which the result is made of, stay float32.

The activation scales are calibrated on our training images (``styleswap calibrate-int8``) and shipped in
``weights/int8_scales.json``, for the encoder the inverse network reads (VGG-19 normalised, max pooling): the others
are slower choices for optimisation and encode in float.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from styleswap.engine.encoder import Encoder
from styleswap.engine.errors import StyleSwapError
from styleswap.engine.int8 import CodePad, load_calibration, quantize, quantized_conv, quiet

PERCENTILE = 0.9999  # of each layer's activations: the top 0.01 % saturate, the rest get finer steps
_SAMPLE = 1 << 24  # activations per layer the percentile is taken over (torch.quantile's limit)
_KEEP_EVERY = 7  # of each calibration image's activations (copied out, so the full maps are freed)


class Int8Encoder(nn.Module):
    """Float RGB (1, 3, H, W) in [0, 1] to dequantised float32 activations at the float encoder's layer.

    The input is quantised in steps of 1/255, exact for 8-bit pictures; the float encoder's preprocessing (a 1x1
    conv) is folded into conv1_1, which reflection padding allows since padding commutes with a per-pixel map."""

    def __init__(self, encoder: Encoder, scales: dict[str, float]) -> None:
        super().__init__()
        with quiet():
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
                self.steps.extend((CodePad(), quantized_conv(weight, bias, scales[name])))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        with quiet():
            x = quantize(rgb, 0.0, 1.0)  # steps of 1/255
            for step in self.steps:
                x = step(x)
        return x.dequantize()


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


def load_scales(profile: str, pooling: str, path: str | os.PathLike | None = None) -> dict[str, float] | None:
    """The shipped activation scales for this encoder, or None when it was not calibrated (it then runs in float)."""
    return load_calibration("encoder", scales_key(profile, pooling), path)
