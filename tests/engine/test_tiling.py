import pytest
import torch

from styleswap.engine.images import Picture
from styleswap.engine.invnet import InverseNet
from styleswap.engine.stylize import ENCODER_HALO, Engine, Options
from styleswap.engine.tiling import run_tiled


@pytest.fixture(scope="module")
def engine(models):
    return Engine("cpu")


@pytest.fixture(scope="module")
def image(engine, astronaut):
    padded, _ = engine.working_image(Picture.from_array(astronaut), 236, Options())  # 236 x 236: tiles do not divide it
    return padded


@pytest.mark.parametrize("tile", [64, 100])
def test_tiled_encoding_equals_whole_image(engine, image, tile):
    encoder = engine.encoder(Options())
    with torch.no_grad():
        whole = encoder(image)
        tiled = run_tiled(encoder, image, 1 / 4, tile, ENCODER_HALO, 4)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max() <= 1e-4 * whole.abs().max()


def test_tiled_decoding_equals_whole_image(engine, image):
    features = engine.encode(image, Options())
    net = engine.inverse()
    with torch.no_grad():
        whole = net(features)
        tiled = run_tiled(net, features, 4, 16, net.halo, 1)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max() < 1e-4


def test_too_small_a_halo_shows_seams(engine, image):
    """The halo is what makes tiling exact: without it tile borders differ from the whole-image pass."""
    encoder = engine.encoder(Options())
    with torch.no_grad():
        whole = encoder(image)
        seamed = run_tiled(encoder, image, 1 / 4, 64, 0, 4)
    assert (seamed - whole).abs().max() > 1e-2 * whole.abs().max()


def test_engine_tiles_large_inputs_to_the_same_result(engine, astronaut):
    picture = Picture.from_array(astronaut)
    style = Picture.from_array(astronaut[::-4, ::4])
    small_tiles = engine.stylize(picture, style, Options(max_size=300, style_size=96, memory_budget=2**20, score=True))  # 256 px tiles
    one_tile = engine.stylize(picture, style, Options(max_size=300, style_size=96, memory_budget=2**28, score=True))
    assert abs(small_tiles.objective - one_tile.objective) < 1e-3
    assert abs(small_tiles.picture.rgb - one_tile.picture.rgb).max() < 2e-3


@pytest.mark.parametrize("blocks", [0, 2, 4])
def test_the_inverse_networks_halo_is_exact_and_tight(blocks):
    """With every weight random (trained residual blocks are not zero), the halo the network reports makes tiles exact,
    and one cell less leaves seams: growing the network widens the context its tiles get."""
    torch.manual_seed(blocks)
    net = InverseNet(blocks).eval()
    for conv in net.modules():
        if isinstance(conv, torch.nn.Conv2d):
            torch.nn.init.normal_(conv.weight, std=(2 / (conv.in_channels * 9)) ** 0.5)
    features = torch.rand(1, 256, 45, 45)
    with torch.no_grad():
        whole = net(features)
        exact = run_tiled(net, features, 4, 16, net.halo, 1)
        seamed = run_tiled(net, features, 4, 16, net.halo - 1, 1)
    assert (exact - whole).abs().max() < 1e-6
    assert (seamed - whole).abs().max() > 1e-3
