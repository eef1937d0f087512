"""The optimiser's own guarantees: a picture in [0, 1], a finite result for any target, progress that ends at 1."""

import torch

from styleswap.engine.optimize import LEARNING_RATE, invert_by_optimisation
from styleswap.engine.stylize import Engine, Options


def encoder(models):
    return Engine("cpu").encoder(Options(method="optim"))


def test_pixels_stay_in_range_when_the_target_pulls_them_out(models):
    """The features of a black picture, from a dark start and with a large step: the image is driven below 0 and
    held at 0."""
    net = encoder(models)
    with torch.no_grad():
        target = net(torch.zeros(1, 3, 32, 32))
    image, _ = invert_by_optimisation(net, target, torch.full((1, 3, 32, 32), 0.05), iters=5, lr=0.5, tv_weight=0.0)
    assert image.min() == 0.0 and image.max() <= 1.0


def test_an_all_zero_target_gives_a_finite_picture(models):
    """A swap whose activations are all zero (nothing to realise) must not divide by zero."""
    net = encoder(models)
    start = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    image, _ = invert_by_optimisation(net, torch.zeros_like(net(start)), start, iters=3, lr=LEARNING_RATE, tv_weight=2.5)
    assert torch.isfinite(image).all() and 0.0 <= float(image.min()) and float(image.max()) <= 1.0


def test_progress_rises_to_exactly_one(models):
    net = encoder(models)
    start = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        target = net(start.flip(-1))
    seen: list[float] = []
    invert_by_optimisation(net, target, start, iters=4, lr=LEARNING_RATE, tv_weight=2.5, progress=seen.append)
    assert seen == [0.25, 0.5, 0.75, 1.0]
