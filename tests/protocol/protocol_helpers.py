"""Helpers for protocol tests (a unique module name, so it never collides with other conftest imports)."""

import json
import time
import uuid
from collections.abc import Sequence

from styleswap_protocol import PROTOCOL_VERSION, sign

MAX_PIXELS = 4096 * 4096


def header(**overrides) -> dict:
    """A valid header dict, for tests that break one field at a time."""
    doc = {
        "protocol": PROTOCOL_VERSION,
        "id": uuid.uuid4().hex,
        "type": "hello",
        "session": "test-session",
        "time": time.time(),
        "parent_id": None,
        "params": {},
        "buffers": [],
    }
    doc.update(overrides)
    return doc


def signed(key: bytes, head: dict | bytes, buffers: Sequence[bytes] = ()) -> list[bytes]:
    """Frames carrying a correct signature, so decoding gets past authentication to the check under test."""
    head_bytes = head if isinstance(head, bytes) else json.dumps(head).encode()
    return [sign(key, head_bytes, buffers), head_bytes, *buffers]
