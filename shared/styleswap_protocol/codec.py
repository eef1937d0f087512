"""Signed multipart messages: frames are [signature, header, *buffers].

The signature is checked before the header is even parsed, so nothing from
an unauthenticated peer reaches the JSON parser or the buffer validation.
"""

from __future__ import annotations

import hmac
import json
import math
import re
from collections.abc import Sequence
from typing import Any, Final, NoReturn

from .errors import BadBufferError, BadSignatureError, MalformedMessageError, ProtocolError, UnsupportedVersionError, short_repr
from .message import PROTOCOL_VERSION, Message
from .pixels import BytesLike, Image
from .replay import ReplayGuard
from .signing import check_key, sign

_HEADER_KEYS: Final = frozenset({"protocol", "id", "type", "session", "time", "parent_id", "params", "buffers"})
_ID: Final = re.compile(r"[0-9a-f]{32}")


def encode(msg: Message, key: bytes) -> list[BytesLike]:
    """Frames ready for `send_multipart`; buffer frames are the images' own data objects, not copies.

    The header is checked with the same rules as `decode`, so a message that
    leaves this function is one the peer can accept.
    """
    check_key(key)
    header = {
        "protocol": PROTOCOL_VERSION,
        "id": msg.id,
        "type": msg.type,
        "session": msg.session,
        "time": msg.time,
        "parent_id": msg.parent_id,
        "params": msg.params,
        "buffers": [image.to_descriptor() for image in msg.buffers],
    }
    _check_header(header)
    try:
        header_bytes = json.dumps(header, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise MalformedMessageError(f"params are not plain JSON: {exc}") from None
    buffers = [image.data for image in msg.buffers]
    return [sign(key, header_bytes, buffers), header_bytes, *buffers]


def decode(frames: Sequence[BytesLike], key: bytes, guard: ReplayGuard, *, max_pixels: int) -> Message:
    """Authenticate, parse and validate one message; any bad input raises a `ProtocolError`.

    `max_pixels` bounds width*height of every buffer; it is the receiver's
    choice (the daemon's memory, a plug-in's canvas limit). Buffer data stays
    as the given frame objects (memoryviews from `recv_message`), uncopied.
    """
    check_key(key)
    if len(frames) < 2:
        raise MalformedMessageError(f"a message needs at least 2 frames (signature, header), got {len(frames)}")
    if not is_authentic(frames, key):
        if not len(frames[0]):
            raise BadSignatureError("signature frame is empty")
        raise BadSignatureError("signature does not match: wrong key (stale connection file?) or altered frames")
    _, header_bytes, *buffers = frames
    header = _parse_header(header_bytes)
    try:
        _check_header(header)
    except ProtocolError as exc:
        msg_id = header.get("id")
        exc.msg_id = msg_id if isinstance(msg_id, str) and _ID.fullmatch(msg_id) else None  # so the reply can name its request
        raise
    try:
        descriptors = header["buffers"]
        if len(descriptors) != len(buffers):
            raise BadBufferError(f"header describes {len(descriptors)} buffers but {len(buffers)} frames follow it")
        images = tuple(_image(i, d, b, max_pixels) for i, (d, b) in enumerate(zip(descriptors, buffers)))
        guard.check(header["id"], _seconds(header["time"]))
    except ProtocolError as exc:
        exc.msg_id = header["id"]
        raise
    return Message(
        type=header["type"],
        session=header["session"],
        params=header["params"],
        buffers=images,
        parent_id=header["parent_id"],
        id=header["id"],
        time=_seconds(header["time"]),
    )


def is_authentic(frames: Sequence[BytesLike], key: bytes) -> bool:
    """Whether frame 0 is the HMAC of the others under `key` (and there is a header to sign): the first
    thing `decode` checks, and what a receiver asks before answering a message it could not decode."""
    if len(frames) < 2 or not len(frames[0]):
        return False
    signature, header_bytes, *buffers = frames
    return hmac.compare_digest(bytes(signature), sign(key, header_bytes, buffers))


def _image(index: int, descriptor: object, data: BytesLike, max_pixels: int) -> Image:
    try:
        return Image.from_descriptor(descriptor, data, max_pixels=max_pixels)
    except BadBufferError as exc:
        raise BadBufferError(f"buffer {index}: {exc.message}") from None


def _seconds(value: object) -> float | None:
    """`value` as finite float seconds, or None: an int too large for a float (10**400) is refused here,
    not left to raise OverflowError in `math.isfinite` or `float`."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except OverflowError:
        return None
    return seconds if math.isfinite(seconds) else None


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _parse_header(header_bytes: BytesLike) -> dict[str, Any]:
    try:
        header = json.loads(bytes(header_bytes).decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise MalformedMessageError(f"header is not UTF-8 JSON: {exc}") from None
    if not isinstance(header, dict):
        raise MalformedMessageError(f"header must be a JSON object, got {type(header).__name__}")
    return header


def _check_header(header: dict[str, Any]) -> None:
    # The version comes first: another version's header may legitimately have other keys.
    version = header.get("protocol")
    if not isinstance(version, int) or isinstance(version, bool):
        raise MalformedMessageError(f"header 'protocol' must be an integer, got {short_repr(version)}")
    if version != PROTOCOL_VERSION:
        raise UnsupportedVersionError(f"peer speaks protocol {version}, this side speaks {PROTOCOL_VERSION}")
    missing = _HEADER_KEYS - header.keys()
    unknown = header.keys() - _HEADER_KEYS
    if missing or unknown:
        raise MalformedMessageError(f"header keys wrong: missing {sorted(missing)}, unknown {sorted(unknown)}")
    if not isinstance(header["id"], str) or not _ID.fullmatch(header["id"]):
        raise MalformedMessageError(f"header 'id' must be 32 lowercase hex digits, got {short_repr(header['id'])}")
    parent = header["parent_id"]
    if parent is not None and (not isinstance(parent, str) or not _ID.fullmatch(parent)):
        raise MalformedMessageError(f"header 'parent_id' must be null or 32 lowercase hex digits, got {short_repr(parent)}")
    for name in ("type", "session"):
        if not isinstance(header[name], str) or not header[name]:
            raise MalformedMessageError(f"header {name!r} must be a non-empty string, got {short_repr(header[name])}")
    if _seconds(header["time"]) is None:
        raise MalformedMessageError(f"header 'time' must be a finite number of unix seconds, got {short_repr(header['time'])}")
    if not isinstance(header["params"], dict):
        raise MalformedMessageError(f"header 'params' must be a JSON object, got {short_repr(header['params'])}")
    if not isinstance(header["buffers"], list):
        raise MalformedMessageError(f"header 'buffers' must be a list of descriptors, got {short_repr(header['buffers'])}")
