"""Temporal coherence for sequences: what one frame hands the next, and the stable matching it makes possible.

Stylised frame by frame, near-tied style patches flip between frames and a still background shimmers. Along the
motion between frames (``flow``), where it is trusted:

- **stable matching**: each content position starts from the style patch its source position took in the previous
  frame and keeps it unless the best patch of this frame beats it by ``margin`` in normalised correlation (cosine
  between the content patch and the style patch). The matchers are untouched: their choice is compared with the
  inherited one by a gather and a dot product per position, so exact, fast and int8 matching all work alike (the
  correlations are taken in float32 on the activations that chose the patches);
- **blend**: the result is mixed with the previous result moved along the motion, by ``blend``, fading out at the
  edges of the trusted region.

A frame whose motion is trusted at fewer than ``SCENE_CUT`` of its pixels (a cut, or a jump) starts the chain afresh.
A host that runs a sequence (the CLI, the daemon) keeps one ``TemporalState`` per sequence and passes it with each
frame to ``Engine.stylize``; ``snapshot`` and ``restore`` carry it across processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from styleswap.engine import flow
from styleswap.engine.errors import StyleSwapError
from styleswap.engine.flow import Motion
from styleswap.engine.images import Picture
from styleswap.engine.options import FrameReport
from styleswap.engine.swap import Matcher, StylePatches
from styleswap_protocol.options import BY_NAME

SCENE_CUT = 0.2  # share of pixels that must follow the motion for the chain to go on
CELL_TRUST = 0.75  # a feature cell follows the motion when this share of its pixels do (a patch when all its cells do)
BLEND_WARP = "bilinear"  # how the previous result is resampled along the motion
_CORRELATION_BLOCK = 256  # content positions whose correlations are taken at a time
_FEATHER = 7  # pixels over which the blend fades out towards untrusted regions


@dataclass
class _Previous:
    size: tuple[int, int]  # (width, height) of the frames
    rgb: torch.Tensor  # (1, 3, h, w) the content at working size
    stylised: torch.Tensor  # (1, 3, h, w) the result at working size
    indices: list[torch.Tensor]  # (rows, cols) style patch numbers chosen, one map per swap
    chain: int


class TemporalState:
    """What one frame of a sequence hands the next; one per sequence, used in order.

    ``Engine.stylize(..., temporal=state, motion=motion)`` calls ``begin`` and the returned frame's hooks; the state
    moves on only once a frame is finished, so a frame that fails leaves it as it was (send it again, or ``reset``)."""

    def __init__(self, margin: float = BY_NAME["temporal_margin"].default, blend: float = BY_NAME["temporal_blend"].default) -> None:
        if not 0.0 <= margin <= 2.0:
            raise StyleSwapError(f"the temporal margin is a difference of correlations in [0, 2], not {margin}")
        if not 0.0 <= blend < 1.0:
            raise StyleSwapError(f"the temporal blend must lie in [0, 1), not {blend}: at 1 the first frame would never change")
        self.margin, self.blend = margin, blend
        self._previous: _Previous | None = None

    def reset(self) -> None:
        """Forget the previous frame: the next one starts a new chain."""
        self._previous = None

    @property
    def frames(self) -> int:
        """Frames in the current chain so far."""
        return 0 if self._previous is None else self._previous.chain

    def begin(self, content: Picture, working: tuple[int, int], cell: int, device: torch.device, motion: Motion | None = None) -> Frame:
        """Start a frame: ``content`` is worked on at ``working`` (width, height), its features are ``cell`` pixels
        apart. ``motion`` is in the content's pixels; without it, it is estimated from the frames (OpenCV)."""
        if motion is not None:
            motion.check(content.size)
        previous = self._previous
        if previous is not None and previous.size != content.size:
            width, height = content.size
            raise StyleSwapError(
                f"the frame is {width}x{height} but the sequence's frames are {previous.size[0]}x{previous.size[1]}: one sequence takes frames of one size"
            )
        rgb = _working_rgb(content, working, device)
        if previous is None:
            return Frame(self, content.size, rgb, cell, None, None, "first frame", 0.0)
        if previous.rgb.shape != rgb.shape:  # the options' size changed within the sequence
            return Frame(self, content.size, rgb, cell, None, None, "working size changed", 0.0)
        if motion is None:
            motion = flow.estimate(previous.rgb[0].permute(1, 2, 0).cpu().numpy(), rgb[0].permute(1, 2, 0).cpu().numpy())
        else:
            motion = motion.resized(working)
        backward = torch.from_numpy(np.ascontiguousarray(motion.backward, dtype=np.float32)).to(device)
        grid = flow.sampling_grid(backward)  # the trust check's two warps and the blend's move along it
        trusted = flow.reliable(motion, previous.rgb, rgb, grid)
        followed = float(trusted.float().mean())
        if followed < SCENE_CUT:
            return Frame(self, content.size, rgb, cell, None, None, "scene cut", followed)
        return Frame(self, content.size, rgb, cell, backward, trusted, None, followed, grid)

    def snapshot(self) -> dict[str, np.ndarray]:
        """The state as plain arrays (for ``numpy.savez``); empty when no frame has been finished."""
        p = self._previous
        if p is None:
            return {"margin": np.float64(self.margin), "blend": np.float64(self.blend)}
        return {
            "margin": np.float64(self.margin),
            "blend": np.float64(self.blend),
            "size": np.array(p.size),
            "chain": np.int64(p.chain),
            "rgb": p.rgb[0].float().cpu().numpy(),
            "stylised": p.stylised[0].float().cpu().numpy(),
            "indices": np.stack([i.cpu().numpy().astype(np.int32) for i in p.indices]),
        }

    @classmethod
    def restore(cls, data: Mapping[str, np.ndarray], device: torch.device | str = "cpu") -> TemporalState:
        """A state from ``snapshot``'s arrays, on ``device``."""
        state = cls(float(data["margin"]), float(data["blend"]))
        if "size" in data:
            state._previous = _Previous(
                tuple(int(v) for v in data["size"]),
                torch.from_numpy(np.asarray(data["rgb"], dtype=np.float32))[None].to(device),
                torch.from_numpy(np.asarray(data["stylised"], dtype=np.float32))[None].to(device),
                [torch.from_numpy(np.asarray(i, dtype=np.int64)).to(device) for i in data["indices"]],
                int(data["chain"]),
            )
        return state


class Frame:
    """One frame in progress: ``matcher`` wraps each swap's matcher, ``finish`` blends the result and moves the state
    on."""

    def __init__(
        self,
        state: TemporalState,
        size: tuple[int, int],
        rgb: torch.Tensor,
        cell: int,
        backward: torch.Tensor | None,
        trusted: torch.Tensor | None,
        restart: str | None,
        followed: float,
        grid: torch.Tensor | None = None,
    ) -> None:
        self._state, self._size, self._rgb, self._cell = state, size, rgb, cell
        self._backward, self._trusted, self._grid = backward, trusted, grid
        self._restart, self._followed = restart, followed
        self._indices: list[torch.Tensor] = []
        self._kept: list[float] = []
        self._chain = state._previous.chain + 1 if backward is not None else 1
        if backward is not None:
            self._cell_motion, self._cell_trusted = _per_cell(backward, trusted, cell)

    @property
    def inherits(self) -> bool:
        return self._backward is not None

    def matcher(self, base: Matcher) -> Matcher:
        """``base`` made stable: its choice replaces the inherited patch only where it wins by the margin."""

        def stable(content: torch.Tensor, style: StylePatches, memory_budget: int, progress: Callable[[float], None] | None = None) -> torch.Tensor:
            best = base(content, style, memory_budget, progress=progress) if progress else base(content, style, memory_budget)
            swap = len(self._indices)
            previous = self._state._previous
            chosen = best
            if self.inherits and swap < len(previous.indices) and previous.indices[swap].shape == best.shape:
                inherited, usable = self._inherited(previous.indices[swap], content, style)
                contested = (usable & (inherited != best)).view(-1).nonzero().squeeze(1)  # where the choice matters
                best_score, kept_score = correlations(content, style, contested, [best, inherited], memory_budget)
                keep = usable & (inherited == best)
                keep.view(-1)[contested] = best_score < kept_score + self._state.margin
                chosen = torch.where(keep, inherited, best)
                self._kept.append(float(keep.float().mean()))
            self._indices.append(chosen)
            return chosen

        return stable

    def _inherited(self, indices: torch.Tensor, content: torch.Tensor, style: StylePatches) -> tuple[torch.Tensor, torch.Tensor]:
        """The previous frame's patch at each position's source, and where that source is trusted."""
        k, s = style.patch_size, style.stride
        height, width = content.shape[-2:]
        motion, trusted = self._cell_motion, self._cell_trusted
        pad = (0, width - motion.shape[-1], 0, height - motion.shape[-2])  # the swap's own padding for its stride
        if pad[1] > 0 or pad[3] > 0:
            motion, trusted = F.pad(motion, pad, mode="replicate"), F.pad(trusted, pad, mode="replicate")
        motion = F.avg_pool2d(motion[..., :height, :width], k, s)[0]  # (2, rows, cols) in cells
        usable = (-F.max_pool2d(-trusted[..., :height, :width], k, s))[0, 0] > 0.5  # every cell of the patch trusted
        rows, cols = indices.shape
        source_row = (torch.arange(rows, device=indices.device)[:, None] + motion[1] / s).round().long()
        source_col = (torch.arange(cols, device=indices.device)[None, :] + motion[0] / s).round().long()
        usable &= (source_row >= 0) & (source_row < rows) & (source_col >= 0) & (source_col < cols)
        return indices[source_row.clamp(0, rows - 1), source_col.clamp(0, cols - 1)], usable

    def finish(self, image: torch.Tensor) -> torch.Tensor:
        """The working-size result (1, 3, h, w) blended with the previous one along the motion; the state moves on."""
        state, previous = self._state, self._state._previous
        if self.inherits and state.blend > 0:
            trusted = self._trusted.float()[None, None]
            feathered = F.avg_pool2d(trusted, _FEATHER, 1, _FEATHER // 2, count_include_pad=False) * trusted
            weight = state.blend * feathered.to(image.dtype)
            image = image + weight * (flow.warp(previous.stylised.to(image.dtype), self._backward, BLEND_WARP, self._grid) - image)
        state._previous = _Previous(self._size, self._rgb, image.detach().clone(), self._indices, self._chain)
        return image

    @property
    def report(self) -> FrameReport:
        kept = sum(self._kept) / len(self._kept) if self._kept else 0.0
        return FrameReport(self._chain, self._restart, self._followed, kept)


def _per_cell(backward: torch.Tensor, trusted: torch.Tensor, cell: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The motion in feature cells (1, 2, h/cell, w/cell) and which cells follow it (1, 1, ...) as 0/1, over the
    working image padded right and bottom to whole cells as the engine pads it."""
    height, width = trusted.shape
    pad = (0, (-width) % cell, 0, (-height) % cell)
    motion = F.pad(backward.permute(2, 0, 1)[None], pad, mode="replicate")
    share = F.pad(trusted.float()[None, None], pad, mode="replicate")
    return F.avg_pool2d(motion, cell) / cell, (F.avg_pool2d(share, cell) >= CELL_TRUST).float()


def correlations(content: torch.Tensor, style: StylePatches, positions: torch.Tensor, choices: list[torch.Tensor], memory_budget: int) -> list[torch.Tensor]:
    """For each map of patch numbers in ``choices``, the cosine between the content patch at each of ``positions``
    (flat indices into the patch grid) and the style patch the map names there: what matching maximises, made
    scale-free so a margin means the same in dark and bright regions. Only these positions' patches are gathered."""
    k, s = style.patch_size, style.stride
    channels, height, width = content.shape[1:]
    cols = (width - k) // s + 1
    pixels = content[0].permute(1, 2, 0).reshape(-1, channels)  # a view of channels-last activations
    offsets = (torch.arange(k, device=content.device)[:, None] * width + torch.arange(k, device=content.device)[None, :]).view(-1)
    dim = k * k * channels
    out = [torch.empty(positions.numel(), dtype=torch.float32, device=content.device) for _ in choices]
    # a few hundred positions at a time keep the gathered rows in cache for their dot products: faster than
    # gathering all, then multiplying
    step = max(1, min(_CORRELATION_BLOCK, memory_budget // (dim * 4 * (2 * len(choices) + 1))))  # rows, filters, products
    for i in range(0, positions.numel(), step):
        chunk = positions[i : i + step]
        corner = (chunk // cols) * s * width + (chunk % cols) * s
        rows = pixels[(corner[:, None] + offsets[None, :]).view(-1)].view(chunk.numel(), dim).float()  # as swap.patch_rows lays them out
        norms = torch.linalg.vector_norm(rows, dim=1).clamp_min(1e-8)
        chosen = torch.stack([choice.reshape(-1)[chunk] for choice in choices])  # every map's patches in one gather
        filters = style.filters(chosen.view(-1)).view(len(choices), chunk.numel(), dim).float()
        for scores, dots in zip(out, (filters * rows).sum(-1)):
            scores[i : i + step] = dots / norms
    return out


def _working_rgb(content: Picture, working: tuple[int, int], device: torch.device) -> torch.Tensor:
    rgb = torch.from_numpy(content.rgb).permute(2, 0, 1)[None].to(device)
    width, height = working
    if rgb.shape[-2:] != (height, width):
        rgb = F.interpolate(rgb, size=(height, width), mode="area" if height < rgb.shape[-2] else "bilinear")
    return rgb
