"""HMAC-SHA256 signatures over a message's header and buffer frames.

The MAC runs over the frames concatenated without separators (as
jupyter_client does). Frame boundaries cannot be shifted anyway: the signed
header fixes every buffer's exact length, and decoding checks each one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from .pixels import BytesLike

SIGNATURE_SCHEME = "hmac-sha256"


def check_key(key: bytes) -> None:
    """Refuse an empty key: HMAC with one would authenticate anybody."""
    if not isinstance(key, bytes) or not key:
        raise ValueError("the signing key must be non-empty bytes")


def sign(key: bytes, header: BytesLike, buffers: Iterable[BytesLike]) -> bytes:
    """Hex signature as ASCII bytes, the form it travels in as frame 0."""
    check_key(key)
    mac = hmac.new(key, header, hashlib.sha256)
    for buffer in buffers:
        mac.update(buffer)
    return mac.hexdigest().encode("ascii")
