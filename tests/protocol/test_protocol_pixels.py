import array

import pytest

from styleswap_protocol import BadBufferError, Image


def test_descriptor_round_trip():
    image = Image(4, 3, 2, "u16", bytes(4 * 3 * 2 * 2))
    assert image.nbytes == 48
    again = Image.from_descriptor(image.to_descriptor(), image.data, max_pixels=12)
    assert again == image


def test_memoryview_of_typed_array_is_flattened_without_copy():
    samples = array.array("f", [0.5] * 6)  # 1x2 RGB float32
    image = Image(2, 1, 3, "f32", memoryview(samples))
    assert image.data.format == "B"
    assert image.data.nbytes == 24
    samples[0] = 1.0
    assert bytes(image.data[:4]) == array.array("f", [1.0]).tobytes()  # shares the array's memory


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ((0, 1, 3, "u8", b""), "width"),
        ((1, 0, 3, "u8", b""), "height"),
        ((True, 1, 1, "u8", b"\x00"), "width"),
        ((1, 1, 5, "u8", bytes(5)), "channels"),
        ((1, 1, 1, "i8", b"\x00"), "dtype"),
        ((2, 2, 1, "u8", bytes(3)), "needs 4 bytes, got 3"),
    ],
)
def test_invalid_images(args, problem):
    with pytest.raises(BadBufferError, match=problem):
        Image(*args)


def test_non_contiguous_data_rejected():
    with pytest.raises(BadBufferError, match="contiguous"):
        Image(2, 1, 1, "u8", memoryview(b"abcd")[::2])


def test_limit_must_be_positive():
    with pytest.raises(ValueError, match="max_pixels"):
        Image.from_descriptor(Image(1, 1, 1, "u8", b"\x00").to_descriptor(), b"\x00", max_pixels=0)
