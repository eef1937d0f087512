"""Stylising only where a mask says: the region around the mask is stylised on its own (so a small object gets a
working size chosen from its own extent, not the whole frame's), then blended over the content by the mask.

A mask is a float (H, W) array in [0, 1] of the content's size: 1 stylised, 0 the content as it was (bit for
bit: those pixels are never resampled), soft in between.
"""

from __future__ import annotations

import numpy as np

from styleswap.engine.errors import StyleSwapError
from styleswap.engine.images import Picture

MARGIN_FRACTION = 0.125  # context around the masked region, as a share of its longer side: patches near its edge see neighbours
MIN_MARGIN = 16  # pixels


def check_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The mask as float32 in [0, 1]; one-line errors for a wrong shape or values that are not numbers."""
    width, height = size
    if mask.ndim != 2 or mask.shape != (height, width):
        raise StyleSwapError(f"the mask is {_size_of(mask)} but the content is {width}x{height}: give a mask of the content's size")
    mask = mask.astype(np.float32, copy=False)
    if not np.isfinite(mask).all():
        raise StyleSwapError("the mask has values that are not numbers (NaN or infinite)")
    if mask.min() < 0 or mask.max() > 1:
        raise StyleSwapError(f"mask values must lie in [0, 1], not [{mask.min():g}, {mask.max():g}]")
    return mask


def mask_from_picture(picture: Picture) -> np.ndarray:
    """A mask from an image file: its luminance (a gray image as it is), in [0, 1]."""
    rgb = picture.rgb
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return rgb[..., 0].copy()
    return (rgb @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)).clip(0.0, 1.0)


def region(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x, y, width, height) of the masked pixels' bounding box grown by a margin, within the image; None when
    nothing is masked."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    margin = max(MIN_MARGIN, round(MARGIN_FRACTION * max(bottom - top, right - left)))
    height, width = mask.shape
    top, left = max(0, top - margin), max(0, left - margin)
    bottom, right = min(height, bottom + margin), min(width, right + margin)
    return int(left), int(top), int(right - left), int(bottom - top)


def crop(picture: Picture, box: tuple[int, int, int, int]) -> Picture:
    x, y, width, height = box
    alpha = None if picture.alpha is None else picture.alpha[y : y + height, x : x + width]
    return Picture(picture.rgb[y : y + height, x : x + width], alpha, picture.bit_depth)


def blend(content: Picture, stylised: Picture, mask: np.ndarray, box: tuple[int, int, int, int]) -> Picture:
    """`content` with `stylised` (the crop at `box`) laid over it by the mask: exactly the content where the mask
    is 0, exactly the stylised pixels where it is 1."""
    x, y, width, height = box
    weights = mask[y : y + height, x : x + width, None]
    inside = content.rgb[y : y + height, x : x + width]
    mixed = np.where(weights >= 1.0, stylised.rgb, np.where(weights <= 0.0, inside, inside + (stylised.rgb - inside) * weights))
    rgb = content.rgb.copy()
    rgb[y : y + height, x : x + width] = mixed
    return Picture(rgb, content.alpha, content.bit_depth)


def _size_of(mask: np.ndarray) -> str:
    return f"{mask.shape[1]}x{mask.shape[0]}" if mask.ndim == 2 else f"of shape {mask.shape}"
