"""The optimiser's own guarantees: a picture in [0, 1], a finite result for any target, progress that ends at 1."""

import torch

from styleswap.engine.images import Picture
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


BT601 = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def reference_prior(image: torch.Tensor, chroma: float) -> torch.Tensor:
    """The prior as docs/benchmarks.md states it: squared neighbour differences of Y plus ``chroma`` times those of Cb
    and Cr, averaged over pixel pairs, down plus across."""
    ycc = torch.einsum("ij,njhw->nihw", BT601, image)
    weights = torch.tensor([1.0, chroma, chroma]).view(1, 3, 1, 1)
    down = ((ycc[..., 1:, :] - ycc[..., :-1, :]) ** 2 * weights).sum(1).mean()
    across = ((ycc[..., :, 1:] - ycc[..., :, :-1]) ** 2 * weights).sum(1).mean()
    return down + across


def test_the_prior_counts_colour_differences_five_times_brightness_ones():
    """With nothing to match (a target the image cannot move), the optimisation is Adam on the prior alone: it must
    follow the documented prior with colour weighted 5x, step for step. 4x or 6x would give another picture."""
    start = torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(2))
    nothing = lambda image: image[:, :1, :1, :1] * 0  # noqa: E731 - an encoder whose features never change
    image, _ = invert_by_optimisation(nothing, torch.ones(1, 1, 1, 1), start, iters=6, lr=0.02, tv_weight=2.5)

    def by_hand(chroma: float) -> torch.Tensor:
        x = start.clone().requires_grad_(True)
        adam = torch.optim.Adam([x], lr=0.02)
        for _ in range(6):
            adam.zero_grad()
            (2.5 * reference_prior(x, chroma)).backward()
            adam.step()
            with torch.no_grad():
                x.clamp_(0.0, 1.0)
        return x.detach()

    torch.testing.assert_close(image, by_hand(5.0), rtol=0, atol=1e-5)
    assert min((by_hand(c) - image).abs().max().item() for c in (4.0, 6.0)) > 1e-4  # the test can tell them apart


def test_an_unset_learning_rate_is_the_documented_one(models):
    """PROTOCOL.md's `lr`: unset, 0.05 from the content or noise and 0.01 from the network's output."""
    engine = Engine("cpu", precision="float32")
    gen = torch.Generator().manual_seed(3)
    content, style = (Picture.from_array((torch.rand(40, 48, 3, generator=gen) * 255).byte().numpy()) for _ in range(2))
    for method, documented in (("optim", 0.05), ("invnet+optim", 0.01)):
        common = {"method": method, "iters": 3, "max_size": 48, "style_size": 48, "match": "exact"}
        unset = engine.stylize(content, style, Options(**common)).picture.rgb
        assert (unset == engine.stylize(content, style, Options(**common, lr=documented)).picture.rgb).all()
        assert (unset != engine.stylize(content, style, Options(**common, lr=documented * 2)).picture.rgb).any()
