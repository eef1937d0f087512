"""StyleSwap wire protocol: signed multipart ZeroMQ messages, pixel buffers and the connection file.

Pure Python, so the GIMP and Blender plug-ins vendor this package unchanged. Only the transport needs
pyzmq, and it is imported on first use: a host Python without pyzmq still has the messages, the pixel
buffers, the connection file and the options schema. PROTOCOL.md is the specification.
"""

from typing import Any

from . import message_types, options
from .codec import decode, encode, is_authentic
from .connection_file import (
    ConnectionInfo,
    check_private,
    default_connection_path,
    new_key,
    pid_alive,
    private_folder,
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
    short_repr,
)
from .message import PROTOCOL_VERSION, Message, new_id
from .pixels import DTYPE_SIZES, Image
from .replay import ReplayGuard
from .signing import ZAP_USERNAME, sign, zap_password

_TRANSPORT = ("connect_socket", "recv_message", "send_message", "split_identity")


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
    "is_authentic",
    "sign",
    "ReplayGuard",
    "send_message",
    "recv_message",
    "split_identity",
    "connect_socket",
    "zap_password",
    "ZAP_USERNAME",
    "ConnectionInfo",
    "default_connection_path",
    "write_connection_file",
    "read_connection_file",
    "pid_alive",
    "check_private",
    "private_folder",
    "new_key",
    "ProtocolError",
    "BadSignatureError",
    "MalformedMessageError",
    "ReplayedMessageError",
    "StaleMessageError",
    "UnsupportedVersionError",
    "BadBufferError",
    "ConnectionFileError",
    "short_repr",
]
