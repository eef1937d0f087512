"""The paper's style swap as public ports write it: a dense convolution with the normalised style patches, an
argmax over channels, and a transposed convolution of the one-hot map with the raw patches.

It materialises the full (#style patches x positions) score map, so it is only for small inputs: the reference
our bounded-memory ``swap`` must equal, and the baseline the benchmarks compare against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dense_swap(content: torch.Tensor, style: torch.Tensor, patch_size: int = 3, stride: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (swapped features, argmax index map) for (1, C, H, W) content and style activations."""
    channels = style.shape[1]
    k = patch_size
    patches = F.unfold(style, k, stride=stride)[0].t().reshape(-1, channels, k, k)
    norms = patches.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    scores = F.conv2d(content, patches / (norms + 1e-8), stride=stride)  # (1, N, Ho, Wo)
    index = scores.argmax(dim=1)
    one_hot = torch.zeros_like(scores).scatter_(1, index.unsqueeze(1), 1.0)
    out = F.conv_transpose2d(one_hot, patches, stride=stride)
    count = F.conv_transpose2d(torch.ones_like(one_hot[:, :1]), torch.ones(1, channels, k, k, dtype=content.dtype, device=content.device), stride=stride)
    return out / count, index[0]
