"""StyleSwap wire protocol: signed multipart ZeroMQ messages, pixel buffers and the connection file.

Pure Python on the standard library and pyzmq, so the GIMP and Blender
plug-ins can vendor this package unchanged. PROTOCOL.md is the specification.
"""

from . import message_types
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
from .transport import recv_message, send_message, split_identity

__all__ = [
    "PROTOCOL_VERSION",
    "DTYPE_SIZES",
    "message_types",
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
