"""Motion between consecutive frames and where it can be trusted.

The motion comes from the host where it knows it exactly (a renderer's per-pixel vector pass) or is estimated by
OpenCV's DIS optical flow (the optional ``temporal`` extra) for plain image sequences. A pixel's motion is trusted
where it lands inside the previous frame, the forward and backward motions agree (Sundaram et al. 2010, as Ruder et
al. 2016 use it for video style transfer), and the colour it came from matches: the rest is occluded, disoccluded or
wrongly estimated, and is stylised afresh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from styleswap.engine.errors import StyleSwapError

# forward-backward consistency: |b + f(x + b)|² <= CONSISTENCY·(|b|² + |f(x + b)|²) + SLACK (pixels²), Ruder et al.'s
# thresholds
CONSISTENCY, SLACK = 0.01, 0.5
COLOUR_TOLERANCE = 0.1  # mean |RGB difference| to the warped previous frame beyond which a pixel's motion is not trusted


@dataclass
class Motion:
    """Per-pixel displacements between the previous frame and this one, in pixels of this frame.

    ``backward[y, x] = (dx, dy)``: pixel (x, y) of this frame shows what was at (x + dx, y + dy) in the previous frame
    (x to the right, y down). ``forward`` is the other direction, given on the previous frame's pixels:
    ``forward[y, x]`` takes pixel (x, y) of the previous frame to (x + dx, y + dy) in this one; without it occlusions
    are found from the colours alone."""

    backward: np.ndarray  # (H, W, 2) float32
    forward: np.ndarray | None = None  # (H, W, 2) float32

    def check(self, size: tuple[int, int]) -> None:
        """Refuse motion that does not fit a frame of ``size`` (width, height), or holds NaN or infinities."""
        width, height = size
        for name, field in (("backward", self.backward), ("forward", self.forward)):
            if field is None:
                continue
            if field.ndim != 3 or field.shape[2] != 2:
                raise StyleSwapError(f"the {name} motion must be (height, width, 2) displacements, not shape {tuple(field.shape)}")
            if field.shape[:2] != (height, width):
                raise StyleSwapError(f"the {name} motion is {field.shape[1]}x{field.shape[0]} but the frame is {width}x{height}")
            bad = int(np.count_nonzero(~np.isfinite(field).all(2)))
            if bad:
                raise StyleSwapError(f"the {name} motion is NaN or infinite at {bad} pixels: give finite displacements in pixels")

    def resized(self, size: tuple[int, int]) -> Motion:
        """The same motion for frames scaled to ``size`` (width, height): displacements scale with the frame."""
        return Motion(*(None if f is None else _resize_field(f, size) for f in (self.backward, self.forward)))


def _resize_field(field: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    if field.shape[:2] == (height, width):
        return field.astype(np.float32, copy=False)
    tensor = torch.from_numpy(np.ascontiguousarray(field, dtype=np.float32)).permute(2, 0, 1)[None]
    scaled = F.interpolate(tensor, size=(height, width), mode="area" if height < field.shape[0] else "bilinear")
    scale = torch.tensor([width / field.shape[1], height / field.shape[0]]).view(1, 2, 1, 1)
    return (scaled * scale)[0].permute(1, 2, 0).contiguous().numpy()


def estimate(previous: np.ndarray, current: np.ndarray) -> Motion:
    """Both motions between two RGB frames (H, W, 3) float in [0, 1] by OpenCV's DIS optical flow (its fast preset: several times quicker than the medium one)."""
    try:
        import cv2
    except ImportError:
        raise StyleSwapError("optical flow between frames needs OpenCV: pip install 'styleswap[temporal]'") from None
    grey = [cv2.cvtColor(np.ascontiguousarray((np.clip(f, 0, 1) * 255).round().astype(np.uint8)), cv2.COLOR_RGB2GRAY) for f in (previous, current)]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    return Motion(dis.calc(grey[1], grey[0], None), dis.calc(grey[0], grey[1], None))


def warp(image: torch.Tensor, backward: torch.Tensor, mode: str = "bilinear", grid: torch.Tensor | None = None) -> torch.Tensor:
    """The previous frame's (1, C, H, W) ``image`` moved onto this frame along ``backward`` (H, W, 2), interpolated
    by ``mode`` (grid_sample's); ``grid``: ``sampling_grid(backward)``, when several images move along one motion."""
    grid = sampling_grid(backward) if grid is None else grid
    return F.grid_sample(image, grid, mode=mode, padding_mode="border", align_corners=True)


def sampling_grid(backward: torch.Tensor) -> torch.Tensor:
    """What ``warp`` samples along ``backward`` (H, W, 2): made once for a frame whose images all move the same way."""
    height, width = backward.shape[:2]
    ys, xs = torch.meshgrid(torch.arange(height, device=backward.device), torch.arange(width, device=backward.device), indexing="ij")
    x = (xs + backward[..., 0]) * (2 / max(width - 1, 1)) - 1
    y = (ys + backward[..., 1]) * (2 / max(height - 1, 1)) - 1
    return torch.stack((x, y), -1)[None].to(torch.float32)


def reliable(motion: Motion, previous: torch.Tensor, current: torch.Tensor, grid: torch.Tensor | None = None) -> torch.Tensor:
    """(H, W) bool: the pixels of ``current`` whose motion from ``previous`` (both (1, 3, H, W) RGB) can be trusted
    (``grid``: ``sampling_grid`` of the backward motion, if the caller has it)."""
    _, _, height, width = current.shape
    device = current.device
    backward = torch.from_numpy(np.ascontiguousarray(motion.backward, dtype=np.float32)).to(device)
    ys, xs = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij")
    sx, sy = xs + backward[..., 0], ys + backward[..., 1]
    ok = (sx >= 0) & (sx <= width - 1) & (sy >= 0) & (sy <= height - 1)
    if motion.forward is not None:
        forward = torch.from_numpy(np.ascontiguousarray(motion.forward, dtype=np.float32)).to(device)
        there = warp(forward.permute(2, 0, 1)[None], backward, grid=grid)[0].permute(1, 2, 0)  # the forward motion where each pixel came from
        mismatch = (backward + there).pow(2).sum(-1)
        ok &= mismatch <= CONSISTENCY * (backward.pow(2).sum(-1) + there.pow(2).sum(-1)) + SLACK
    colour = (warp(previous.float(), backward, grid=grid) - current.float()).abs().mean(1)[0]
    return ok & (colour <= COLOUR_TOLERANCE)
