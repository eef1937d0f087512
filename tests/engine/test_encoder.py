import pytest
import torch
from safetensors.torch import load_file

from styleswap.engine.encoder import LAYERS, Encoder, load_encoder
from styleswap.engine.errors import StyleSwapError
from styleswap.engine.weights import get_profile, load_state, resolve


@pytest.fixture(scope="module")
def image(astronaut):
    return torch.from_numpy(astronaut[::4, ::4].copy()).permute(2, 0, 1).unsqueeze(0).float() / 255.0  # 128 x 128


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_shapes(models, image, layer):
    encoder = load_encoder(layer=layer)
    features = encoder(image)
    assert features.shape == (1, encoder.channels, 128 // encoder.stride, 128 // encoder.stride)
    assert encoder.channels == {"relu1": 64, "relu2": 128, "relu3": 256}[layer[:5]]
    assert features.min() >= 0


def test_normalised_and_imagenet_profiles_are_one_network_rescaled(models, image):
    """Gatys' normalised VGG is the ImageNet VGG with per-channel rescaling: relu(norm) = relu(orig) * scale.

    With the same (zero) padding this must hold at every layer, which checks both weight conversions and the
    architecture (preprocessing, channel order, pooling) at once.
    """
    scales = load_file(str(models / "vgg19_normalisation_scales.safetensors"))
    normalised = load_state(resolve(get_profile("vgg19-normalised")), get_profile("vgg19-normalised"))
    for layer in LAYERS:
        ours = Encoder(normalised, "zeros", layer)(image)
        original = load_encoder("vgg19", layer)(image)
        expected = original * scales[layer].view(1, -1, 1, 1)
        assert torch.allclose(ours, expected, rtol=1e-4, atol=1e-4 * float(expected.abs().max()))


def test_padding_profiles_differ_only_near_the_border(models, image):
    reflect = load_encoder("vgg19-normalised")(image)
    zeros = Encoder(load_state(resolve(get_profile("vgg19-normalised")), get_profile("vgg19-normalised")), "zeros")(image)
    inner = (reflect - zeros)[..., 4:-4, 4:-4].abs().max()
    border = (reflect - zeros)[..., :2, :].abs().max()
    assert inner < 1e-3 * reflect.abs().max() < border


def test_average_pooling_changes_features(models, image):
    assert not torch.allclose(load_encoder(pooling="avg")(image), load_encoder(pooling="max")(image))


def test_unknown_layer_and_pooling(models):
    with pytest.raises(StyleSwapError, match="layer"):
        load_encoder(layer="relu4_1")
    with pytest.raises(StyleSwapError, match="pooling"):
        load_encoder(pooling="median")
