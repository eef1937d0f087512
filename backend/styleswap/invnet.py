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
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from styleswap.errors import WeightsError

WEIGHTS_FILE = "invnet_relu3_1.safetensors"


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1, padding_mode="reflect")


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
                up2=nn.Upsample(scale_factor=2, mode="nearest"),
                conv2_2=_conv(128, 128),
                relu2_2=nn.ReLU(inplace=True),
                conv2_1=_conv(128, 64),
                relu2_1=nn.ReLU(inplace=True),
                up1=nn.Upsample(scale_factor=2, mode="nearest"),
                conv1_2=_conv(64, 64),
                relu1_2=nn.ReLU(inplace=True),
                conv1_1=_conv(64, 3),
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
    return Path(str(resources.files("styleswap") / "weights" / WEIGHTS_FILE))


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
