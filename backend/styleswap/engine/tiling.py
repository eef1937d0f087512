"""Running fully convolutional networks on large images tile by tile, with the same result as one pass.

Each tile is cut with a halo of real neighbouring pixels wider than the network's receptive field, run alone, and
trimmed back; at the image's own edges the tile edge is the image edge, so the networks' padding sees exactly what
it sees in a whole-image pass. Memory then scales with the tile, not the image: a 4K frame fits a laptop.
"""

from __future__ import annotations

from typing import Callable

import torch

Network = Callable[[torch.Tensor], torch.Tensor]


def run_tiled(network: Network, x: torch.Tensor, scale: float, tile: int, halo: int, align: int, progress: Callable[[float], None] | None = None) -> torch.Tensor:
    """``network`` maps (1, C, H, W) to (1, C', H*scale, W*scale); apply it over ``tile``-sized tiles of ``x``.

    ``halo`` (input cells of context per side) must cover the receptive field; ``align`` keeps tile origins on
    the network's pooling grid. Returns ``network(x)`` when one tile covers the input. ``progress`` gets the share
    of the area done after each tile.
    """
    height, width = x.shape[-2:]
    if height <= tile and width <= tile:
        out = network(x)
        if progress:
            progress(1.0)
        return out
    tile = max(align, tile - tile % align)
    done = 0
    out: torch.Tensor | None = None
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            y1, x1 = min(height, y0 + tile), min(width, x0 + tile)
            top, left = max(0, y0 - halo), max(0, x0 - halo)
            piece = network(x[..., top : min(height, y1 + halo), left : min(width, x1 + halo)])
            if out is None:
                layout = torch.channels_last if piece.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
                shape = (*piece.shape[:2], round(height * scale), round(width * scale))
                out = torch.empty(shape, dtype=piece.dtype, device=piece.device, memory_format=layout)
            oy, ox = round((y0 - top) * scale), round((x0 - left) * scale)
            h, w = round((y1 - y0) * scale), round((x1 - x0) * scale)
            out[..., round(y0 * scale) : round(y0 * scale) + h, round(x0 * scale) : round(x0 * scale) + w] = piece[..., oy : oy + h, ox : ox + w]
            done += (y1 - y0) * (x1 - x0)
            if progress:
                progress(done / (height * width))
    return out
