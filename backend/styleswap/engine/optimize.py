"""Reconstruction by optimisation: find the image whose activations best match the swapped ones."""

from __future__ import annotations

from typing import Callable

import torch

from styleswap.engine.encoder import Encoder
from styleswap.engine.metrics import colour_total_variation, swap_objective

Progress = Callable[[float], None]

# How much more a colour (Cb, Cr) difference between neighbours costs than a brightness one. relu3_1 features barely
# respond to single-pixel colour changes, so Adam (which scales every pixel's step to about the learning rate, however
# small its gradient) fills them with pink and green speckle unless the prior forbids it; brightness detail is what
# the style's strokes are made of and is smoothed less.
CHROMA_SMOOTHNESS = 5.0
# Learning rates the engine picks when the options leave `lr` unset (its schema entry says so): from the content or
# noise the image has far to go; from the inverse network's image it is already close
LEARNING_RATE = 0.05
NETWORK_START_LEARNING_RATE = 0.01


def invert_by_optimisation(
    encoder: Encoder,
    target: torch.Tensor,
    init: torch.Tensor,
    iters: int,
    lr: float,
    tv_weight: float,
    progress: Progress | None = None,
) -> tuple[torch.Tensor, float]:
    """Minimise ‖Φ(I) − Φss‖²/‖Φss‖² + λ·TV(I) with Adam from ``init``, keeping I in [0,1] after every step.

    TV is ``colour_total_variation``: colour differences count ``CHROMA_SMOOTHNESS`` times brightness ones.
    Returns the image and its final swap objective. The loss is normalised by ‖Φss‖² so one learning rate and one
    TV weight serve every image size.
    """
    image = init.detach().clone().requires_grad_(True)
    optimiser = torch.optim.Adam([image], lr=lr)
    scale = target.pow(2).sum().clamp_min(1e-12)
    for step in range(iters):
        optimiser.zero_grad(set_to_none=True)
        loss = (encoder(image) - target).pow(2).sum() / scale
        if tv_weight:
            loss = loss + tv_weight * colour_total_variation(image, CHROMA_SMOOTHNESS)
        loss.backward()
        optimiser.step()
        with torch.no_grad():
            image.clamp_(0.0, 1.0)
        if progress:
            progress((step + 1) / iters)
    image = image.detach()
    with torch.no_grad():
        return image, swap_objective(encoder(image), target)
