"""StyleSwap wire protocol: signed multipart ZeroMQ messages, pixel buffers and the connection file.

Pure Python, so the GIMP and Blender plug-ins vendor this package unchanged. Only the transport needs
pyzmq, and it is imported on first use: a host Python without pyzmq still has the messages, the pixel
buffers, the connection file and the options schema. PROTOCOL.md is the specification.
"""

from typing import Any

from . import message_types, options
from .codec import decode, encode
from .connection_file import (
    ConnectionInfo,
    default_connection_path,
    new_key,
    pid_alive,
    read_connection_file,
    write_connection_file,
)
from .errors import (
    BadBufferError,
    BadSignatureError,
    ConnectionFileError,
    MalformedMessageError,
    ProtocolError,
    ReplayedMessageError,
    StaleMessageError,
    UnsupportedVersionError,
)
from .message import PROTOCOL_VERSION, Message, new_id
from .pixels import DTYPE_SIZES, Image
from .replay import ReplayGuard
from .signing import sign

_TRANSPORT = ("recv_message", "send_message", "split_identity")


def __getattr__(name: str) -> Any:
    if name in _TRANSPORT:  # pyzmq only where messages are actually sent
        from . import transport

        return getattr(transport, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PROTOCOL_VERSION",
    "DTYPE_SIZES",
    "message_types",
    "options",
    "Message",
    "Image",
    "new_id",
    "encode",
    "decode",
    "sign",
    "ReplayGuard",
    "send_message",
    "recv_message",
    "split_identity",
    "ConnectionInfo",
    "default_connection_path",
    "write_connection_file",
    "read_connection_file",
    "pid_alive",
    "new_key",
    "ProtocolError",
    "BadSignatureError",
    "MalformedMessageError",
    "ReplayedMessageError",
    "StaleMessageError",
    "UnsupportedVersionError",
    "BadBufferError",
    "ConnectionFileError",
]
