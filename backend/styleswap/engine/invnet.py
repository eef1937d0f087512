"""The inverse network: relu3_1 activations back to an image in one forward pass.

Mirror of the encoder (conv 256→128, ×2, 128→128, 128→64, ×2, 64→64, 64→3) with reflection padding and a sigmoid
output, optionally with residual blocks at the activations' resolution after the first conv. Unlike the paper's
released model it has no instance normalisation: every output pixel then depends only on a fixed neighbourhood of
activations, so tiles with a halo decode exactly like the whole image and results do not shift with the image size.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from styleswap.engine.errors import WeightsError

WEIGHTS_FILE = "invnet_relu3_1.safetensors"


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1, padding_mode="reflect")


# Taps of a 3-tap kernel seen by each output phase of a nearest 2x upsampling, over two input cells: even outputs
# see (cell - 1, cell, cell), odd ones (cell, cell, cell + 1)
_PHASE_TAPS = ((1.0, 0.0, 0.0), (0.0, 1.0, 1.0)), ((1.0, 1.0, 0.0), (0.0, 0.0, 1.0))


class UpsampleConv(nn.Conv2d):
    """Nearest 2x upsampling then a reflection-padded 3x3 conv, without making the upsampled map.

    Each of the four output phases sees only 2x2 input cells, so the 3x3 kernel folds into four 2x2 kernels run as
    one conv at the input resolution (reflection at the upsampled edge is replication at the input's): 2.25x fewer
    multiply-adds, no upsampled copy, and the same weights and result as upsample + conv (float rounding aside)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(cin, cout, 3)

    def phase_kernels(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The 2x2 kernels of the four phases stacked as output channels (phase 2a + b, then channel), and their bias."""
        taps = torch.tensor(_PHASE_TAPS, dtype=self.weight.dtype, device=self.weight.device)
        phases = torch.einsum("aiy,bjx,ocyx->abocij", taps, taps, self.weight).reshape(4 * self.out_channels, self.in_channels, 2, 2)
        return phases, self.bias.repeat(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return interleave_phases(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), *self.phase_kernels()))


def interleave_phases(low: torch.Tensor) -> torch.Tensor:
    """(N, 4C, h + 1, w + 1) phase outputs of ``UpsampleConv`` (of any dtype, int8 codes too) as the (N, C, 2h, 2w)
    upsampled map, channels last.

    Phase (a, b) of output cell (2m + a, 2n + b) is channel block 2a + b at cell (m + a, n + b), so for each a one
    strided view reads output row 2m + a in order (one 6-d copy for both was far slower)."""
    low = low.permute(0, 2, 3, 1).contiguous()  # a view when oneDNN returned channels last
    batch, height, width, c = low.shape[0], low.shape[1] - 1, low.shape[2] - 1, low.shape[3] // 4
    sn, sh, sw, _ = low.stride()
    out = low.new_empty(batch, height, 2, width, 2, c)
    for a in range(2):
        out[:, :, a] = low.as_strided((batch, height, width, 2, c), (sn, sh, sw, sw + c, 1), low.storage_offset() + a * (sh + 2 * c))
    return out.view(batch, 2 * height, 2 * width, c).permute(0, 3, 1, 2)


_BAND_VALUES = 1 << 20  # codes turned into floats at a time by TapSumConv.forward_codes: a 4 MB buffer


class TapSumConv(nn.Conv2d):
    """A reflection-padded 3x3 conv to few channels (the RGB output), as one GEMM to each tap's outputs and nine
    shifted adds: oneDNN's three-channel conv runs far below its speed, and the reflection is applied to 27 tap
    outputs instead of 64 input channels (it commutes with the per-pixel GEMM). Same weights and result as the conv, and
    faster end to end."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(cin, cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._sum_taps(x.permute(0, 2, 3, 1) @ self._per_tap())

    def forward_codes(self, codes: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
        """The conv of uint8 ``codes`` (channels last) dequantised with ``scale`` and ``zero_point``.

        The codes become floats a band of rows at a time, into one small buffer: dequantising the int8 network's last
        map at once first was slower, mostly to fault in the new map, four times the codes' size.
        """
        per_tap = self._per_tap() * scale
        pixels = codes.permute(0, 2, 3, 1)
        batch, height, width, channels = pixels.shape
        taps = per_tap.new_empty(batch, height, width, per_tap.shape[1])
        rows = max(1, _BAND_VALUES // (width * channels))
        band = per_tap.new_empty(rows * width, channels)
        for image in range(batch):
            for top in range(0, height, rows):
                bottom = min(top + rows, height)
                floats = band[: (bottom - top) * width].view(bottom - top, width, channels).copy_(pixels[image, top:bottom])
                torch.mm(floats.view(-1, channels), per_tap, out=taps[image, top:bottom].view(-1, per_tap.shape[1]))
        if zero_point:
            taps -= zero_point * per_tap.sum(0)
        return self._sum_taps(taps)

    def _per_tap(self) -> torch.Tensor:
        return self.weight.permute(1, 2, 3, 0).reshape(self.in_channels, 9 * self.out_channels)  # (in, (dy, dx, out))

    def _sum_taps(self, taps: torch.Tensor) -> torch.Tensor:
        """(batch, height, width, 9 out) tap outputs to the padded conv's output, each tap added from where the
        reflection puts it rather than from a reflection-padded copy of the taps : same sums in the same order, and the
        stage is faster without the copy."""
        batch, height, width, _ = taps.shape
        c = self.out_channels
        out = taps.new_empty(batch, height, width, c)
        for tap in range(9):
            dy, dx = divmod(tap, 3)
            for rows, from_rows in _reflected_shift(height, dy - 1):
                for cols, from_cols in _reflected_shift(width, dx - 1):
                    source = taps[:, from_rows, from_cols, tap * c : (tap + 1) * c]
                    if tap:
                        out[:, rows, cols] += source
                    else:
                        out[:, rows, cols] = source + self.bias
        return out.permute(0, 3, 1, 2)


def _reflected_shift(size: int, offset: int) -> list[tuple[slice, slice]]:
    """(output cells, source cells) along an axis of ``size`` cells for the input at ``offset`` (-1, 0 or 1) from each
    output cell, with the input reflected at the ends (cell -1 is cell 1)."""
    if offset < 0:
        return [(slice(1, size), slice(0, size - 1)), (slice(0, 1), slice(1, 2))]
    if offset > 0:
        return [(slice(0, size - 1), slice(1, size)), (slice(size - 1, size), slice(size - 2, size - 1))]
    return [(slice(0, size), slice(0, size))]


class Residual(nn.Module):
    """x + conv(relu(conv(x))). The second conv starts at zero, so a network grown by a block computes exactly what
    it did before and training continues from there instead of from scratch."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_a, self.conv_b = _conv(channels, channels), _conv(channels, channels)
        nn.init.zeros_(self.conv_b.weight)
        nn.init.zeros_(self.conv_b.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_b(torch.relu(self.conv_a(x)))


class InverseNet(nn.Sequential):
    def __init__(self, residual_blocks: int = 0) -> None:
        self.residual_blocks = residual_blocks
        super().__init__(
            OrderedDict(
                conv3_1=_conv(256, 128),
                relu3_1=nn.ReLU(inplace=True),
                **{f"res{i}": Residual(128) for i in range(1, residual_blocks + 1)},
                conv2_2=UpsampleConv(128, 128),
                relu2_2=nn.ReLU(inplace=True),
                conv2_1=_conv(128, 64),
                relu2_1=nn.ReLU(inplace=True),
                conv1_2=UpsampleConv(64, 64),
                relu1_2=nn.ReLU(inplace=True),
                conv1_1=TapSumConv(64, 3),
                out=nn.Sigmoid(),
            )
        )

    @property
    def halo(self) -> int:
        """Activation cells on each side that one output pixel depends on, so the context a decoded tile needs: 1 for
        conv3_1, 2 per residual block, then the half- and full-resolution convs and the nearest upsampling reach 2 more."""
        return 3 + 2 * self.residual_blocks


def residual_blocks_in(state: dict[str, torch.Tensor]) -> int:
    return len({key.split(".")[0] for key in state if key.startswith("res")})


def grow(net: InverseNet, state: dict[str, torch.Tensor]) -> None:
    """Load weights with as many or fewer residual blocks than ``net`` has; the blocks they lack stay identities."""
    have = residual_blocks_in(state)
    if have > net.residual_blocks:
        raise WeightsError(f"these weights have {have} residual blocks, more than the {net.residual_blocks} asked for (--residual-blocks)")
    missing, unexpected = net.load_state_dict(state, strict=False)
    if unexpected or any(not key.startswith("res") for key in missing):
        raise WeightsError(f"not inverse network weights: missing {missing}, unexpected {unexpected}")


def bundled_weights() -> Path:
    return Path(str(resources.files("styleswap.engine") / "weights" / WEIGHTS_FILE))


def save_inverse(net: InverseNet, path: str | os.PathLike, metadata: dict[str, str]) -> None:
    """float16 on disk: a few MB, and the network's output does not change visibly."""
    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(path), metadata=metadata)


def load_inverse(path: str | os.PathLike | None = None, device: torch.device | str = "cpu") -> InverseNet:
    path = Path(path or os.environ.get("STYLESWAP_INVNET_WEIGHTS") or bundled_weights())
    if not path.is_file():
        raise WeightsError(f"inverse network weights {path} not found; reinstall styleswap or use --method optim")
    try:
        state = {k: v.float() for k, v in load_file(str(path)).items()}
        net = InverseNet(residual_blocks_in(state))
        net.load_state_dict(state)
    except (SafetensorError, OSError, RuntimeError) as exc:
        raise WeightsError(f"cannot load inverse network weights {path}: {exc}") from None
    return net.requires_grad_(False).eval().to(device)
