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


ZAP_USERNAME = "styleswap"


def zap_password(key: bytes) -> str:
    """The password a TCP client presents in ZeroMQ's PLAIN handshake: derived from the key, so only key
    holders get past the handshake (nothing of a stranger's messages is buffered) and the key itself
    never crosses the socket."""
    check_key(key)
    return hmac.new(key, b"styleswap zap password", hashlib.sha256).hexdigest()
