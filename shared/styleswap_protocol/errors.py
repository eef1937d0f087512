"""Exceptions for bad wire input, each with a stable code so peers and logs can branch without parsing text."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar


def short_repr(value: object, limit: int = 80) -> str:
    """A bounded repr for error messages and logs: an untrusted field can be a megabyte long."""
    try:
        text = repr(value)
    except ValueError:  # an int beyond sys.get_int_max_str_digits
        text = f"<an integer of {value.bit_length()} bits>" if isinstance(value, int) else "<unprintable>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ProtocolError(Exception):
    """A received message was rejected; `code` is what goes into an `error` reply.

    `msg_id` is set when the message was authentic and its id readable, so the
    daemon can answer with a correct `parent_id`; `identity` is set by
    `recv_message` on a ROUTER socket, so the daemon knows whom to answer.
    """

    code: ClassVar[str]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.msg_id: str | None = None
        self.identity: bytes | None = None

    def to_params(self) -> dict[str, str]:
        """Params for an `error` reply, so the peer sees exactly what decoding found."""
        return {"code": self.code, "message": self.message}


class BadSignatureError(ProtocolError):
    """Missing or wrong HMAC: wrong key (stale connection file) or tampering."""

    code = "bad_signature"


class MalformedMessageError(ProtocolError):
    """Authentic bytes that do not form a valid header or frame layout."""

    code = "malformed"


class ReplayedMessageError(ProtocolError):
    """A message id seen before inside the replay window."""

    code = "replayed"


class StaleMessageError(ProtocolError):
    """Sent too far from the receiver's clock, or older than the replay memory reaches."""

    code = "stale"


class UnsupportedVersionError(ProtocolError):
    """The peer speaks another protocol version; fields cannot be trusted to mean the same."""

    code = "unsupported_version"


class BadBufferError(ProtocolError):
    """A pixel descriptor is invalid, over the receiver's limit, or disagrees with its frame."""

    code = "bad_buffer"


class ConnectionFileError(Exception):
    """A connection file exists but cannot be used; the message names the file and the problem."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
