"""From the working size back to the picture's own size, with the content's fine detail where the result follows it.

The style's look (stroke size, palette, texture) is decided at the working size; a 6000x4000 photo scaled up from
1024 px would be soft at 100 %. Guided detail: the stylised image scaled up smoothly, plus the content's detail
above the working resolution (the content minus its own working-size copy scaled back up), times how strongly the
result follows the content around each pixel. That gain is the slope of a local linear fit of each result channel
on the content's luminance (the guided filter of He et al., fitted at the working size where both images exist):
about 1 where the result keeps the content's edges, near 0 where the style has replaced the structure, so edges come
back sharp without laying the photo's grain over painted areas.

The picture is made in bands of rows, so beyond the working size only the output array and the caller's content
grow with the picture: a 6000x4000 result needs no full-size temporaries.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from styleswap.engine.color import keep_content_colour, luminance

RADIUS = 2  # working-size pixels each side of the window the local fit uses
EPSILON = 3e-4  # regularises the fit: content variation below about sqrt(EPSILON) counts as flat, not as an edge
MAX_GAIN = 2.0  # a result varying over nearly flat content would otherwise amplify the content's noise
BAND_PIXELS = 1 << 22  # output pixels made at a time: a few 16 MB float32 temporaries per band


def restore_size(result: torch.Tensor, working: torch.Tensor, content: np.ndarray, detail: float, preserve_color: bool) -> np.ndarray:
    """``result`` and ``working`` (the content at the working size) are (1, 3, h, w) in [0, 1]; ``content`` is the
    picture's own (H, W, 3) float32 RGB. Returns the (H, W, 3) float32 result at the picture's size: scaled up with
    ``detail`` (0 to 1) of the guided detail, then with the content's colours when ``preserve_color``."""
    height, width = content.shape[:2]
    out = np.empty((height, width, 3), dtype=np.float32)
    guide = luminance(working).float() if detail > 0 and (height, width) != tuple(result.shape[-2:]) else None
    gain = None if guide is None else _detail_gain(result, guide)
    rows = max(1, BAND_PIXELS // width)
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        band = torch.from_numpy(content[top:bottom]).permute(2, 0, 1).unsqueeze(0).to(result.device)
        image = _resample(result, top, bottom, height, width)
        if gain is not None:
            fine = luminance(band) - _resample(guide, top, bottom, height, width)
            image = image + detail * _resample(gain, top, bottom, height, width, "bilinear") * fine
        image = image.clamp(0.0, 1.0)
        if preserve_color:
            image = keep_content_colour(image, band)
        out[top:bottom] = image[0].permute(1, 2, 0).float().cpu().numpy()
    return out


def _detail_gain(result: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """(1, 3, h, w): per result channel, the smoothed slope of its local linear fit on ``guide``, the content's
    luminance at the working size."""
    result = result.float()
    mean_i, mean_p = _box(guide), _box(result)
    covariance = _box(guide * result) - mean_i * mean_p
    variance = _box(guide * guide) - mean_i * mean_i
    return _box(covariance / (variance + EPSILON)).clamp(-MAX_GAIN, MAX_GAIN)


def _box(x: torch.Tensor) -> torch.Tensor:
    """Mean over a (2 RADIUS + 1)^2 window, over the pixels inside the image near its edges."""
    return F.avg_pool2d(F.pad(x, (RADIUS,) * 4, mode="replicate"), 2 * RADIUS + 1, stride=1)


def _resample(image: torch.Tensor, top: int, bottom: int, height: int, width: int, mode: str = "bicubic") -> torch.Tensor:
    """Rows ``top:bottom`` of ``image`` scaled to (height, width): the same sampling as F.interpolate with
    align_corners=False (source pixel (i + 0.5) * small / large - 0.5, edges held), one band at a time."""
    low_h, low_w = image.shape[-2:]
    if (low_h, low_w) == (height, width):
        return image[..., top:bottom, :]
    ys = (torch.arange(top, bottom, device=image.device, dtype=torch.float32) + 0.5) * (2.0 / height) - 1.0
    xs = (torch.arange(width, device=image.device, dtype=torch.float32) + 0.5) * (2.0 / width) - 1.0
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], dim=-1).unsqueeze(0)
    return F.grid_sample(image.float(), grid, mode=mode, padding_mode="border", align_corners=False)
