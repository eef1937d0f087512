"""Working sizes: how large the content and the style are processed, from their sizes and the options alone.

No torch here: the command line and the daemon's caches size things before (or without) loading the engine.
"""

from __future__ import annotations

from styleswap.engine.errors import StyleSwapError
from styleswap.engine.options import Options

MIN_SIDE = 16
STROKE_REFERENCE = 1024  # working side at which style_size applies as given; beyond it the style grows with the content


def fit_within(size: tuple[int, int], limit: int) -> tuple[int, int]:
    """(width, height) scaled down so the long side is at most ``limit``, never up; a thin image is scaled down only
    as far as its short side keeps ``MIN_SIDE`` px (its long side then passes ``limit``: a 108x24 text layer at 64
    works at 72x16 rather than not at all)."""
    width, height = size
    if min(width, height) < MIN_SIDE:
        raise StyleSwapError(f"image of {width}x{height} is too small to stylise; both sides need at least {MIN_SIDE} px")
    scale = min(1.0, max(limit / max(width, height), MIN_SIDE / min(width, height)))
    return max(MIN_SIDE, round(width * scale)), max(MIN_SIDE, round(height * scale))


def style_working_size(style_size: tuple[int, int], options: Options, content_size: tuple[int, int] | None = None) -> tuple[int, int]:
    """(width, height) the style is processed at for a content of ``content_size``: its own size capped at
    ``style_size``, times ``stroke_scale``, and beyond a working side of ``STROKE_REFERENCE`` grown with the content's
    working size, so its strokes keep their size relative to the picture at any ``max_size`` (the look of the
    default preview, with more pixels). Without ``content_size``, as for a content worked at the reference side."""
    content_side = max(fit_within(content_size, options.max_size)) if content_size else STROKE_REFERENCE
    width, height = fit_within(style_size, options.style_size)  # its size without a stroke scale, with the same checks
    factor = options.stroke_scale * max(1.0, content_side / STROKE_REFERENCE)
    if factor == 1.0:
        return width, height
    return max(MIN_SIDE, round(width * factor)), max(MIN_SIDE, round(height * factor))
