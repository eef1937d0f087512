import numpy as np

from daemon_helpers import picture, to_array, to_image
from styleswap.daemon.wire import array_to_image, image_to_array, image_to_picture, picture_to_image


def test_u8_and_u16_round_trip_exactly():
    for dtype in ("u8", "u16"):
        pixels = picture(5, 3, 4, dtype, seed=1)
        assert np.array_equal(image_to_array(to_image(pixels)), pixels)
        assert np.array_equal(to_array(picture_to_image(image_to_picture(to_image(pixels)))), pixels)


def test_f32_is_clipped_and_quantised_to_16_bits_and_comes_back_as_f32():
    pixels = np.array([[[0.0, 0.5, 1.0, 0.25], [-3.0, 7.0, np.nan, 1 / 65535]]], dtype=np.float32)
    quantised = image_to_array(to_image(pixels))
    assert quantised.dtype == np.uint16
    assert quantised.tolist() == [[[0, 32768, 65535, 16384], [0, 65535, 0, 1]]]
    back = to_array(array_to_image(quantised, "f32"))
    assert back.dtype == np.float32
    assert np.abs(back - np.nan_to_num(np.clip(pixels, 0, 1))).max() <= 0.5 / 65535 + 1e-7


def test_gray_with_alpha_becomes_rgba_with_alpha_untouched():
    pixels = picture(4, 4, 2, "u8", seed=2)
    out = to_array(picture_to_image(image_to_picture(to_image(pixels))))
    assert out.shape == (4, 4, 4)
    assert np.array_equal(out[..., 3], pixels[..., 1])
    assert np.array_equal(out[..., 0], pixels[..., 0]) and np.array_equal(out[..., 2], pixels[..., 0])


def test_bit_depth_changes_scale_the_range():
    pixels = np.array([[[0, 128, 255]]], dtype=np.uint8)
    assert to_array(array_to_image(pixels, "u16")).tolist() == [[[0, 32896, 65535]]]
    wide = np.array([[[0, 32896, 65535]]], dtype=np.uint16)
    assert to_array(array_to_image(wide, "u8")).tolist() == [[[0, 128, 255]]]
