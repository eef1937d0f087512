"""Sending and receiving over ZeroMQ, one code path for the daemon (ROUTER) and clients (DEALER).

A ROUTER socket prepends exactly one identity frame to each message it
receives and routes each message it sends by consuming one leading identity
frame. StyleSwap clients connect straight to the daemon (no proxies, no
empty delimiter frame), so the daemon always strips and adds exactly one.

Large buffers go out with `copy=False`: pyzmq hands the caller's memory to
libzmq (it still copies frames below `socket.copy_threshold`, 64 KiB by
default), so a sent buffer must not be mutated until libzmq is done with it;
pass immutable bytes, or wait for the send before reusing a numpy array.
Received frames come back as memoryviews of ZeroMQ's own frames, uncopied.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, overload

import zmq

from .codec import decode, encode
from .connection_file import ConnectionInfo
from .errors import MalformedMessageError, ProtocolError
from .message import Message
from .pixels import BytesLike
from .replay import ReplayGuard
from .signing import ZAP_USERNAME, zap_password


def connect_socket(socket: zmq.Socket, info: ConnectionInfo, key: bytes | None = None) -> None:
    """Connect a client socket to the daemon `info` names. Over TCP the socket first presents the PLAIN
    credentials derived from `key` (default: the file's), which the daemon checks before it reads a
    single message; over IPC the socket file's folder admits only its owner."""
    if info.transport == "tcp":
        socket.plain_username = ZAP_USERNAME.encode()
        socket.plain_password = zap_password(info.key if key is None else key).encode()
    socket.connect(info.url)


def split_identity(frames: Sequence[BytesLike]) -> tuple[bytes, list[BytesLike]]:
    """Separate the one identity frame a ROUTER socket prepends from the message frames."""
    if not frames:
        raise MalformedMessageError("no frames received")
    return bytes(frames[0]), list(frames[1:])


def send_message(socket: zmq.Socket, msg: Message, key: bytes, identity: bytes | None = None) -> None:
    """Sign and send; on a ROUTER socket pass the peer's `identity` from `recv_message`."""
    frames = encode(msg, key)
    if identity is not None:
        frames.insert(0, identity)
    socket.send_multipart(frames, copy=False)


@overload
def recv_message(
    socket: zmq.Socket, key: bytes, guard: ReplayGuard, *, max_pixels: int, identity: Literal[False] = False
) -> Message: ...


@overload
def recv_message(
    socket: zmq.Socket, key: bytes, guard: ReplayGuard, *, max_pixels: int, identity: Literal[True]
) -> tuple[bytes, Message]: ...


def recv_message(
    socket: zmq.Socket, key: bytes, guard: ReplayGuard, *, max_pixels: int, identity: bool = False
) -> Message | tuple[bytes, Message]:
    """Receive one message (blocking as the socket is configured); ROUTER callers pass `identity=True`
    and get `(identity, message)`. A `ProtocolError` carries the sender's `identity` so the daemon
    can still answer it."""
    frames: list[BytesLike] = [frame.buffer for frame in socket.recv_multipart(copy=False)]
    if not identity:
        return decode(frames, key, guard, max_pixels=max_pixels)
    peer, frames = split_identity(frames)
    try:
        return peer, decode(frames, key, guard, max_pixels=max_pixels)
    except ProtocolError as exc:
        exc.identity = peer
        raise
