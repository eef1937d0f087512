"""Helpers for daemon tests: real daemon subprocesses, test images, raw protocol peers."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import zmq

from styleswap_client import Client, wait_until_ready
from styleswap_protocol import PROTOCOL_VERSION, ConnectionInfo, Image, Message, ReplayGuard, connect_socket, decode, encode, sign

START_TIMEOUT = 90.0
REPLY_TIMEOUT = 120.0  # a reply's wait, generous for a loaded machine; checks that nothing comes use their own
TINY = {"method": "optim", "iters": 1, "max_size": 32, "style_size": 32}  # a request of milliseconds
SLOW = {**TINY, "iters": 100000, "max_size": 64}  # minutes, unless cancelled


def wait_until(condition: Callable[[], object], what: str, timeout: float = 120.0) -> None:
    """Poll ``condition`` until it holds; fail the test (not hang it) after a deadline only a stuck daemon misses."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:g} s")
        time.sleep(0.05)


def jobs_held(running: RunningDaemon) -> int:
    """Jobs the daemon holds, queued or running, as its hello says."""
    with running.client() as client:
        return client.hello()["engine"]["jobs"]


def _die_with_parent() -> None:
    """In the child: get SIGTERM if pytest dies, so no daemon outlives a crashed test run (Linux)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def daemon_env(root: Path) -> dict[str, str]:
    """Environment of a daemon that publishes and logs only under `root`."""
    return {**os.environ, "STYLESWAP_CONNECTION_FILE": str(root / "run" / "backend.json"), "STYLESWAP_LOG_DIR": str(root / "log")}


def spawn(root: Path, *args: str) -> subprocess.Popen:
    """`styleswap-backend` as a real subprocess; its stdout/stderr go to root/console.txt."""
    root.mkdir(parents=True, exist_ok=True)
    console = open(root / "console.txt", "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "styleswap.daemon.command", "--threads", "1", *args],
        env=daemon_env(root),
        stdin=subprocess.DEVNULL,
        stdout=console,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,
    )


@dataclass
class RunningDaemon:
    root: Path
    process: subprocess.Popen
    info: ConnectionInfo

    @property
    def path(self) -> Path:
        return self.root / "run" / "backend.json"

    @property
    def log(self) -> str:
        return "\n".join(p.read_text() for p in sorted((self.root / "log").glob("backend.log*")))

    def client(self, timeout: float = REPLY_TIMEOUT) -> Client:
        return Client(self.info, timeout=timeout, name="pytest")

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (the daemon's clean exit path), SIGKILL if it has not gone after ``timeout`` s; returns the exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def launch(root: Path, *args: str, timeout: float = START_TIMEOUT) -> RunningDaemon:
    process = spawn(root, *args)
    try:
        info = wait_until_ready(root / "run" / "backend.json", timeout=timeout, process=process)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return RunningDaemon(root, process, info)


def picture(width: int, height: int, channels: int = 4, dtype: str = "u8", seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "f32":
        return rng.random((height, width, channels), dtype=np.float32)
    top = 255 if dtype == "u8" else 65535
    return rng.integers(0, top + 1, (height, width, channels), dtype=np.uint8 if dtype == "u8" else np.uint16)


def to_image(pixels: np.ndarray) -> Image:
    dtype = {np.dtype(np.uint8): "u8", np.dtype(np.uint16): "u16", np.dtype(np.float32): "f32"}[pixels.dtype]
    height, width, channels = pixels.shape
    return Image(width, height, channels, dtype, np.ascontiguousarray(pixels).tobytes())


def to_array(image: Image) -> np.ndarray:
    dtype = {"u8": np.uint8, "u16": np.uint16, "f32": np.float32}[image.dtype]
    return np.frombuffer(image.data, dtype=dtype).reshape(image.height, image.width, image.channels)


class RawPeer:
    """A DEALER that sends arbitrary frames, to test what the daemon does with bad ones."""

    def __init__(self, info: ConnectionInfo, key: bytes | None = None) -> None:
        self.info = info
        self.key = info.key if key is None else key
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.DEALER)
        self.socket.linger = 0
        connect_socket(self.socket, info, self.key)  # over TCP a wrong key fails the handshake already
        self.guard = ReplayGuard()

    def close(self) -> None:
        self.context.destroy(linger=0)

    def send(self, msg: Message) -> Message:
        self.socket.send_multipart(encode(msg, self.key))
        return msg

    def send_frames(self, frames: list[bytes]) -> None:
        self.socket.send_multipart(frames)

    def recv(self, timeout: float = REPLY_TIMEOUT) -> Message | None:
        """The next message, decoded with the daemon's real key; None if nothing came in time."""
        if not self.socket.poll(timeout * 1000):
            return None
        return decode(self.socket.recv_multipart(), self.info.key, self.guard, max_pixels=1 << 28)

    def recv_until(self, condition: Callable[[Message], bool], what: str, timeout: float = 120.0) -> Message:
        """The first message meeting ``condition``, skipping others (progress); fails the test past one deadline for
        the whole wait, so a stream of progress cannot keep it waiting for ever."""
        deadline = time.monotonic() + timeout
        while (msg := self.recv(max(0.0, deadline - time.monotonic()))) is not None:
            if condition(msg):
                return msg
        pytest.fail(f"{what} did not come within {timeout:g} s")

    def reply_to(self, request_id: str | None, timeout: float = REPLY_TIMEOUT) -> Message:
        deadline = time.monotonic() + timeout
        while (msg := self.recv(max(0.0, deadline - time.monotonic()))) is not None:
            if msg.parent_id == request_id:
                return msg
        raise AssertionError(f"no reply to {request_id} within {timeout} s")

    def hello(self) -> Message:
        return self.reply_to(self.send(Message("hello", "raw-peer")).id)


def signed_frames(key: bytes, type: str, descriptors: list[dict], buffers: list[bytes], params: dict | None = None) -> tuple[str, list[bytes]]:
    """A correctly signed message with hand-written buffer descriptors (which `Image` would refuse)."""
    msg_id = uuid.uuid4().hex
    header = json.dumps(
        {"protocol": PROTOCOL_VERSION, "id": msg_id, "type": type, "session": "raw-peer", "time": time.time(), "parent_id": None, "params": params or {}, "buffers": descriptors}
    ).encode()
    return msg_id, [sign(key, header, buffers), header, *buffers]


def descriptor(width: int, height: int, channels: int = 3, dtype: str = "u8") -> dict:
    return {"width": width, "height": height, "channels": channels, "dtype": dtype, "order": "top-down"}
