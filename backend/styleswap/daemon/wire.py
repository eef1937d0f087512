"""Pixel buffers on the wire <-> engine Pictures, shared by the daemon and `styleswap stylize --daemon`.

The engine works on 8- or 16-bit integers (it keeps alpha bit for bit), so `f32` buffers are clipped to
[0, 1] (NaN counts as 0) and quantised to 16 bits on the way in; the reply is converted back to the
request's dtype, so an f32 sender gets f32 back, 16-bit exact. Gray inputs come back as RGB (gray+alpha
as RGBA): the style adds colour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from styleswap.engine.images import Picture
from styleswap_protocol import Image

if TYPE_CHECKING:  # engine.flow imports torch, which `stylize --daemon` never loads
    from styleswap.engine.flow import Motion

_NUMPY_DTYPES = {"u8": np.dtype("<u1"), "u16": np.dtype("<u2"), "f32": np.dtype("<f4")}
_U16_TOP = 65535


def _pixels(image: Image) -> np.ndarray:
    """(H, W, C) uint8/uint16 in native byte order: a view of the buffer where it can be (f32 is converted)."""
    pixels = np.frombuffer(image.data, dtype=_NUMPY_DTYPES[image.dtype]).reshape(image.height, image.width, image.channels)
    if image.dtype == "f32":
        return np.rint(np.clip(np.nan_to_num(pixels, nan=0.0), 0.0, 1.0) * _U16_TOP).astype(np.uint16)
    return pixels.astype(pixels.dtype.newbyteorder("="), copy=False)


def image_to_array(image: Image) -> np.ndarray:
    """A copy, for keeping after the ZeroMQ frame is released (uploaded styles)."""
    return np.array(_pixels(image))


def array_to_image(pixels: np.ndarray, dtype: str) -> Image:
    """Wrap an (H, W, C) integer array as a buffer of `dtype`, scaling between bit depths as needed."""
    top = float(np.iinfo(pixels.dtype).max)
    if dtype == "f32":
        out = (pixels.astype(np.float32) / np.float32(top)).astype(_NUMPY_DTYPES["f32"])
    else:
        target = _NUMPY_DTYPES[dtype]
        out = pixels if pixels.dtype == target else np.rint(pixels.astype(np.float64) * (np.iinfo(target).max / top)).astype(target)
    out = np.ascontiguousarray(out)
    height, width, channels = out.shape
    return Image(width, height, channels, dtype, memoryview(out))


def image_to_mask(image: Image) -> np.ndarray:
    """A one-channel buffer as a float (H, W) mask in [0, 1]; f32 values are taken as they are (the engine refuses
    NaN and values outside [0, 1] with a message, rather than guessing)."""
    values = np.frombuffer(image.data, dtype=_NUMPY_DTYPES[image.dtype]).reshape(image.height, image.width)
    if image.dtype == "f32":
        return values.astype(np.float32)
    return values.astype(np.float32) / np.float32(np.iinfo(values.dtype).max)


def image_to_motion(image: Image) -> Motion:
    """A `motion` buffer (f32, 2 channels: backward dx, dy; 4: then forward dx, dy; checked by params.check_motion)
    as the engine's Motion."""
    from styleswap.engine.flow import Motion

    values = np.frombuffer(image.data, dtype=_NUMPY_DTYPES["f32"]).reshape(image.height, image.width, image.channels).astype(np.float32)
    return Motion(values[..., :2], values[..., 2:] if image.channels == 4 else None)


def image_to_picture(image: Image) -> Picture:
    return Picture.from_array(_pixels(image))  # converts to float: no copy of the buffer needed first


def picture_to_image(picture: Picture, dtype: str | None = None) -> Image:
    """The picture's own bit depth unless another wire dtype is asked for."""
    pixels = picture.to_array()
    return array_to_image(pixels, dtype or ("u16" if pixels.dtype == np.uint16 else "u8"))
