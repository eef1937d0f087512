"""The inverse network in int8 up to its RGB conv, on x86 CPUs with VNNI.

Its first conv, the residual blocks and both upsampling stages (each nearest upsampling and conv run as four 2x2
phase kernels) hold 99 % of its multiply-adds; in int8 (oneDNN's u8 x s8 convolutions, weights scaled per output
channel) the network decodes several times faster (docs/benchmarks.md). The RGB conv stays float32: its rounding would reach
the pixels unfiltered.

Unlike the encoder's rounding, which only moves near ties between patches, the network's reaches the picture, and
what hurts is clipping: saturating even a small tail of each point's activations raised the swap objective far more
than the rounding did (docs/benchmarks.md). So every quantisation point spans all but a millionth at each end of the range seen in calibration
(the swapped activations of our training photos with our training paintings, ``styleswap calibrate-int8``),
shipped in ``weights/int8_scales.json`` under a digest of the weights it was measured for: other weights
(``STYLESWAP_INVNET_WEIGHTS``) decode in float32. The residual stream stays float32 between blocks; each block reads
it as uint8 codes with a zero point (it is signed) and adds its dequantised output back.
"""

from __future__ import annotations

import hashlib
import math
import os
from typing import Iterable

import torch
from torch import nn

from styleswap.engine.int8 import CodePad, affine, codes_of, load_calibration, quantize, quantized_conv, quiet
from styleswap.engine.invnet import InverseNet, Residual, interleave_phases


def _relu_conv(kernels: tuple[torch.Tensor, torch.Tensor], ranges: dict[str, list[float]], name: str) -> nn.Module:
    """A conv (weight, bias) followed by ReLU: its codes span [0, top of its calibrated range]."""
    return quantized_conv(*kernels, *affine(0.0, ranges[name][1]))


class Int8Residual(nn.Module):
    def __init__(self, block: Residual, ranges: dict[str, list[float]], name: str) -> None:
        super().__init__()
        self.stream_range = ranges[f"{name}.in"]
        self.conv_a = _relu_conv((block.conv_a.weight, block.conv_a.bias), ranges, f"{name}.conv_a")
        self.conv_b = quantized_conv(block.conv_b.weight, block.conv_b.bias, *affine(*ranges[f"{name}.conv_b"]), relu=False)
        self.pad = CodePad()

    def forward(self, stream: torch.Tensor) -> torch.Tensor:
        return stream + self.conv_b(self.pad(self.conv_a(self.pad(quantize(stream, *self.stream_range))))).dequantize()


class Int8InverseNet(nn.Module):
    """Float relu3_1 activations to the float32 image, as ``InverseNet`` with the same halo (tiles stay exact: the
    ranges are fixed, not measured per tile)."""

    def __init__(self, net: InverseNet, ranges: dict[str, list[float]]) -> None:
        super().__init__()
        self.halo = net.halo
        self.input_range, self.upsample_range = ranges["conv3_1.in"], ranges["conv2_2.in"]
        with quiet():
            self.conv3_1 = _relu_conv((net.conv3_1.weight, net.conv3_1.bias), ranges, "conv3_1")
            self.blocks = nn.ModuleList(Int8Residual(getattr(net, f"res{i}"), ranges, f"res{i}") for i in range(1, net.residual_blocks + 1))
            self.conv2_2 = _relu_conv(net.conv2_2.phase_kernels(), ranges, "conv2_2")
            self.conv2_1 = _relu_conv((net.conv2_1.weight, net.conv2_1.bias), ranges, "conv2_1")
            self.conv1_2 = _relu_conv(net.conv1_2.phase_kernels(), ranges, "conv1_2")
        self.reflect, self.replicate = CodePad("reflect"), CodePad("replicate")
        self.conv1_1, self.out = net.conv1_1, net.out

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        with quiet():
            stream = self.conv3_1(self.reflect(quantize(features, *self.input_range))).dequantize()
            for block in self.blocks:
                stream = block(stream)
            phases, half = self._upsampled(self.conv2_2, quantize(stream, *self.upsample_range))
            phases, full = self._upsampled(self.conv1_2, self.conv2_1(self.reflect.codes(half, phases.q_scale(), phases.q_zero_point())))
        return self.out(self.conv1_1.forward_codes(full, phases.q_scale(), phases.q_zero_point()))

    def _upsampled(self, phase_conv: nn.Module, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest 2x upsampling and a conv, as ``UpsampleConv`` runs them, on quantized codes: the conv's quantized
        phase outputs (their scale and zero point hold for the result) and the upsampled map's uint8 codes."""
        phases = phase_conv(self.replicate(codes))
        return phases, interleave_phases(codes_of(phases))


TAIL = 1e-6  # of each quantisation point's activations that may saturate at either end
_KEPT = 4096  # extreme values kept per end: the tail is exact up to _KEPT / TAIL (4e9) activations


class _Tails:
    """The lowest and highest values seen, so that a quantile this far out is exact without keeping the maps."""

    def __init__(self) -> None:
        self.count, self.lows, self.highs = 0, torch.empty(0), torch.empty(0)

    def add(self, x: torch.Tensor) -> None:
        values = x.detach().flatten().float().cpu()
        self.count += values.numel()
        keep = min(_KEPT, values.numel())
        self.lows = torch.cat((self.lows, values.topk(keep, largest=False).values)).topk(min(_KEPT, self.lows.numel() + keep), largest=False).values
        self.highs = torch.cat((self.highs, values.topk(keep).values)).topk(min(_KEPT, self.highs.numel() + keep)).values

    def range(self) -> list[float]:
        rank = min(math.ceil(TAIL * self.count), self.highs.numel())
        return [float(self.lows[rank - 1]), float(self.highs[rank - 1])]


def calibrate(net: InverseNet, targets: Iterable[torch.Tensor]) -> dict[str, list[float]]:
    """Each quantisation point's range over the float network run on ``targets``, all but a ``TAIL`` at each end:
    the network's input, each residual block's input stream and conv_b's output, the stream into the first
    upsampling, and the output of each conv that ReLU follows (only its top counts)."""
    seen: dict[str, _Tails] = {}

    def note(name: str, x: torch.Tensor) -> None:
        seen.setdefault(name, _Tails()).add(x)

    def inputs(module: nn.Module, name: str) -> torch.utils.hooks.RemovableHandle:
        return module.register_forward_hook(lambda _m, args, _out: note(name, args[0]))

    def outputs(module: nn.Module, name: str) -> torch.utils.hooks.RemovableHandle:
        return module.register_forward_hook(lambda _m, _args, out: note(name, out))

    hooks = [inputs(net.conv3_1, "conv3_1.in"), inputs(net.conv2_2, "conv2_2.in")]
    hooks += [outputs(getattr(net, f"relu{layer}"), f"conv{layer}") for layer in ("3_1", "2_2", "2_1", "1_2")]
    for i in range(1, net.residual_blocks + 1):
        block, name = getattr(net, f"res{i}"), f"res{i}"
        hooks += [inputs(block, f"{name}.in"), outputs(block.conv_a, f"{name}.conv_a"), outputs(block.conv_b, f"{name}.conv_b")]
    try:
        with torch.no_grad():
            for target in targets:
                net(target.to(next(net.parameters()).dtype, memory_format=torch.channels_last))
    finally:
        for hook in hooks:
            hook.remove()
    return {name: tails.range() for name, tails in sorted(seen.items())}


def weights_digest(net: InverseNet) -> str:
    """What the shipped ranges are filed under: they hold only for the weights they were measured with."""
    digest = hashlib.sha256()
    for name, tensor in net.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def load_ranges(net: InverseNet, path: str | os.PathLike | None = None) -> dict[str, list[float]] | None:
    """The shipped ranges for these weights, or None when they were not calibrated (the network then runs in float)."""
    return load_calibration("inverse", weights_digest(net), path)
