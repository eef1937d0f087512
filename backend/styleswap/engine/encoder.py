"""VGG-19 encoder up to relu3_1 (or an earlier layer), built from our safetensors weights."""

from __future__ import annotations

import os
from collections import OrderedDict

import torch
from torch import nn

from styleswap.engine.errors import StyleSwapError
from styleswap.engine.weights import get_profile, load_state, resolve

# (name, in, out) of each 3x3 conv; a 2x2 pool follows conv1_2 and conv2_2.
_CONVS = (("conv1_1", 3, 64), ("conv1_2", 64, 64), ("conv2_1", 64, 128), ("conv2_2", 128, 128), ("conv3_1", 128, 256))
_POOL_AFTER = {"conv1_2", "conv2_2"}
LAYERS = tuple("relu" + name[4:] for name, _, _ in _CONVS)
POOLINGS = ("max", "avg")


class Encoder(nn.Sequential):
    """Frozen feature extractor Φ: RGB in [0,1] (N,3,H,W) to relu activations at ``layer``.

    ``stride`` is the total downsampling: the image side must be a multiple of it for the features to cover the
    image exactly, which the callers arrange by padding.
    """

    def __init__(self, state: dict[str, torch.Tensor], padding: str, layer: str = "relu3_1", pooling: str = "max") -> None:
        if layer not in LAYERS:
            raise StyleSwapError(f"unknown layer {layer!r}; choose one of: {', '.join(LAYERS)}")
        if pooling not in POOLINGS:
            raise StyleSwapError(f"unknown pooling {pooling!r}; choose max or avg")
        modules: OrderedDict[str, nn.Module] = OrderedDict(preprocess=nn.Conv2d(3, 3, 1))
        stride = 1
        for name, cin, cout in _CONVS:
            modules[name] = nn.Conv2d(cin, cout, 3, padding=1, padding_mode=padding)
            modules["relu" + name[4:]] = nn.ReLU(inplace=True)
            if "relu" + name[4:] == layer:
                break
            if name in _POOL_AFTER:
                modules["pool" + name[4]] = nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2)
                stride *= 2
        super().__init__(modules)
        self.layer = layer
        self.stride = stride
        self.channels = cout
        self.load_state_dict({k: v for k, v in state.items() if k.split(".")[0] in modules})
        self.requires_grad_(False)
        self.eval()


def load_encoder(
    profile: str = "vgg19-normalised",
    layer: str = "relu3_1",
    pooling: str = "max",
    weights: str | os.PathLike | None = None,
    device: torch.device | str = "cpu",
) -> Encoder:
    spec = get_profile(profile)
    state = load_state(resolve(spec, weights), spec)
    return Encoder(state, spec.padding, layer, pooling).to(device)
