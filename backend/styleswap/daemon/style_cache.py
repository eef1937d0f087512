"""Uploaded styles and their prepared features, least recently used dropped first, bounded in bytes.

A style's id is a hash of its pixels, so uploading the same image twice costs nothing. Entries are the
uploaded pixels (key `(style_id,)`) and the features prepared from them for one device and one set of
style options (key `(style_id, device, options.style_key())`). A job keeps its own reference to the
pixels, so an eviction never breaks a job already accepted; a later request naming an evicted style
gets `unknown_style` and the client uploads it again.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from styleswap_protocol import Image


def style_id_of(image: Image) -> str:
    digest = hashlib.sha256(repr(sorted(image.to_descriptor().items())).encode())
    digest.update(image.data)
    return digest.hexdigest()[:32]


class ByteLRU:
    """Thread-safe: the server thread stores uploads while the worker stores prepared features."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key][0]

    def put(self, key: Hashable, value: Any, nbytes: int) -> bool:
        """Store and evict older entries to fit; False when the value alone exceeds the budget (not stored)."""
        with self._lock:
            if key in self._items:
                self._bytes -= self._items.pop(key)[1]
            if nbytes > self.max_bytes:
                return False
            self._items[key] = (value, nbytes)
            self._bytes += nbytes
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped
            return True
