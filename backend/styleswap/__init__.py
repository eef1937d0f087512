"""StyleSwap: fast patch-based arbitrary style transfer (Chen & Schmidt, 2016)."""

import os

# Large CPU tensors on transparent huge pages. Matching and the networks allocate buffers of 10-100 MB on every call,
# and faulting those in 4 KB at a time cost as much as the arithmetic on them.
# torch reads this once, at its first allocation, so it only takes effect when styleswap is imported before torch.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

__version__ = "0.1.0"
