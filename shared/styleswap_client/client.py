"""Client library for the StyleSwap daemon, used by `styleswap stylize --daemon` and the plug-ins.

Only the standard library, pyzmq and styleswap_protocol are imported, so hosts without torch or numpy
(GIMP's and Blender's Python) can use it. Images are `styleswap_protocol.Image` buffers.

    with connect(autostart=True) as client:
        style = client.upload_style(style_image)
        result = client.stylize(content_image, style, {"iters": 50}, progress=print)

A progress callback may raise to stop the job: the client cancels it on the daemon, waits for the
daemon to confirm, then re-raises. `timeout` is how long to wait for the daemon's next message;
progress events keep a long job alive.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from styleswap_protocol import (
    ConnectionFileError,
    ConnectionInfo,
    Image,
    Message,
    ProtocolError,
    ReplayGuard,
    connect_socket,
    default_connection_path,
    new_id,
    pid_alive,
    read_connection_file,
    recv_message,
    send_message,
)
from styleswap_protocol import (
    message_types as mt,
)

BACKEND_ENV = "STYLESWAP_BACKEND"  # command line that starts the daemon, for hosts whose Python lacks torch
DEFAULT_TIMEOUT = 60.0
DEFAULT_START_TIMEOUT = 120.0
MAX_PIXELS = 1 << 28  # the largest reply this client accepts
_PROBE_TIMEOUT = 5.0  # an idle daemon answers hello in milliseconds
_LIVENESS_CHECK = 1.0  # seconds between checks, while waiting, that the daemon process still exists


class DaemonError(Exception):
    """An `error` reply (or a local failure with the same shape): `code` is the protocol's error code."""

    def __init__(self, code: str, message: str, detail: Any = None, job_id: str | None = None) -> None:
        super().__init__(f"{message} [{code}]")
        self.code = code
        self.message = message
        self.detail = detail
        self.job_id = job_id  # set when this error ended that job

    @classmethod
    def from_reply(cls, msg: Message) -> DaemonError:
        params = msg.params
        return cls(str(params.get("code", "error")), str(params.get("message", "the daemon reported an error")), params.get("detail"), params.get("job_id"))


class DaemonUnavailable(DaemonError):
    def __init__(self, message: str) -> None:
        super().__init__("unavailable", message)


class DaemonTimeout(DaemonError):
    def __init__(self, message: str) -> None:
        super().__init__("timeout", message)


@dataclass(frozen=True)
class Progress:
    job_id: str
    fraction: float  # of the image being worked on (of the whole job, for a single image)
    stage: str
    stage_fraction: float
    frame: int | None = None  # sequences: the frame being worked on
    frames_done: int = 0  # sequences: frames finished so far


@dataclass(frozen=True)
class StylizeResult:
    job_id: str
    image: Image
    summary: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SequenceResult:
    job_id: str
    frames: int  # produced by the daemon over the job's life
    warnings: list[str] = field(default_factory=list)


ProgressCallback = Callable[[Progress], None]


class Client:
    """One connection to the daemon. Calls are serialised (one socket); `cancel` works from any thread."""

    def __init__(self, info: ConnectionInfo, *, timeout: float = DEFAULT_TIMEOUT, name: str = "styleswap_client", context: zmq.Context | None = None) -> None:
        self.info = info
        self.timeout = timeout
        self.name = name
        self._context = context or zmq.Context.instance()
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.linger = 0
        connect_socket(self._socket, info)
        self._guard = ReplayGuard()
        self._session = new_id()
        self._lock = threading.RLock()
        self.daemon: dict[str, Any] | None = None  # the latest `info` from hello

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._socket.close(linger=0)

    # -- requests --------------------------------------------------------------------------------

    def hello(self, timeout: float | None = None) -> dict[str, Any]:
        """The daemon's `info`: version, device, loaded models, memory, limits."""
        with self._lock:
            self.daemon = self._request(mt.HELLO, {"client": self.name}, timeout=timeout).params
            return self.daemon

    def upload_style(self, style: Image, name: str | None = None) -> str:
        """Send a style once and refer to it by the returned id; the same pixels always give the same id."""
        with self._lock:
            params = {"name": name} if name else {}
            return str(self._request(mt.UPLOAD_STYLE, params, [style.as_role("style")]).params["style_id"])

    def stylize(
        self, content: Image, style: Image | str, options: dict[str, Any] | None = None, *, mask: Image | None = None, progress: ProgressCallback | None = None, timeout: float | None = None
    ) -> StylizeResult:
        """Stylise one image with a style image or an uploaded style id; options are the stylise options (PROTOCOL.md).
        A `mask` (one channel of the content's size) limits the stylisation to where it is non-zero, soft in between."""
        params: dict[str, Any] = {"options": dict(options or {})}
        buffers = [content.as_role("content")]
        if isinstance(style, str):
            params["style_id"] = style
        else:
            buffers.append(style.as_role("style"))
        if mask is not None:
            buffers.append(mask.as_role("mask"))
        with self._lock:
            request = self._send(mt.STYLIZE, params, buffers)
            job_id = self._ack(request, timeout)["job_id"]
            with self._cancel_on_error(job_id):
                msg = next(self._job_messages(job_id, {request.id}, progress, timeout))
        return StylizeResult(job_id, msg.buffers[0], msg.params.get("summary", {}), msg.params.get("warnings", []))

    def run_sequence(
        self,
        frames: Iterable[tuple[int, Image] | tuple[int, Image, Image | None]],
        on_frame: Callable[[int, Image], None],
        style: Image | str | None = None,
        options: dict[str, Any] | None = None,
        *,
        progress: ProgressCallback | None = None,
        job_id: str | None = None,
        resume_from: int | None = None,
        window: int = 8,
        timeout: float | None = None,
        temporal: bool = False,
        on_summary: Callable[[int, dict[str, Any]], None] | None = None,
    ) -> SequenceResult:
        """Stream `(frame number, image)` pairs through one job, `window` at a time, calling `on_frame`
        as results arrive (in the order they finish). To resume after losing a connection, pass the
        `job_id` and `resume_from` = last frame received + 1, and the frames not yet sent (resending one
        is harmless); style, options and `temporal` are the job's already.

        `temporal`: the frames are one shot, stylised in frame-number order each following the motion from
        the one before (PROTOCOL.md, temporal sequences); a frame may then come as `(number, image, motion)`
        with a `motion_buffer` (None: the daemon estimates the motion). `on_summary(frame, summary)` gets
        each frame's result summary (its `temporal` entry says where the chain restarted and why)."""
        if window < 1:
            raise ValueError("window must be at least 1")
        source = _Lookahead(frames)
        with self._lock:
            params: dict[str, Any]
            if job_id is None:
                if style is None:
                    raise ValueError("a new sequence needs a style (an image or an uploaded style id)")
                style_id = style if isinstance(style, str) else self.upload_style(style)
                params = {"options": dict(options or {}), "style_id": style_id}
                if temporal:
                    params["temporal"] = True
            else:
                params = {"job_id": job_id}
            if resume_from is not None:
                params["resume_from"] = resume_from
            batch = source.take(window)
            request = self._send(mt.SEQUENCE, {**params, **_frame_params(batch), "last": source.exhausted}, _frame_buffers(batch))
            job_id = str(self._ack(request, timeout)["job_id"])
            requests = {request.id}
            outstanding = {item[0] for item in batch}
            warnings: list[str] = []
            with self._cancel_on_error(job_id):
                for msg in self._job_messages(job_id, requests, progress, timeout):
                    if msg.type == mt.RESULT:
                        break
                    frame = int(msg.params["frame"])
                    warnings.extend(msg.params.get("warnings", []))
                    outstanding.discard(frame)
                    on_frame(frame, msg.buffers[0])
                    if on_summary is not None and "summary" in msg.params:  # a held result resent on resume has none
                        on_summary(frame, msg.params["summary"])
                    if not source.exhausted and len(outstanding) <= window // 2:
                        batch = source.take(window - len(outstanding))
                        more = self._send(mt.SEQUENCE, {"job_id": job_id, **_frame_params(batch), "last": source.exhausted}, _frame_buffers(batch))
                        requests.add(more.id)
                        outstanding.update(item[0] for item in batch)
        return SequenceResult(job_id, int(msg.params.get("frames", 0)), warnings)

    def open_sequence(self, style: Image | str, options: dict[str, Any] | None = None, *, temporal: bool = False, timeout: float | None = None) -> str:
        """A sequence job with no frames yet, for a host that makes its frames one at a time (a render): send
        them with `send_frame`, end it with `close_sequence`. Returns its job id."""
        with self._lock:
            style_id = style if isinstance(style, str) else self.upload_style(style)
            params: dict[str, Any] = {"options": dict(options or {}), "style_id": style_id, "frames": []}
            if temporal:
                params["temporal"] = True
            return str(self._ack(self._send(mt.SEQUENCE, params), timeout)["job_id"])

    def send_frame(
        self, job_id: str, frame: int, image: Image, motion: Image | None = None, *, progress: ProgressCallback | None = None, timeout: float | None = None
    ) -> tuple[Image, dict[str, Any]]:
        """One frame of an open sequence (with its `motion_buffer` in a temporal one), waited for: its result and
        summary. A sequence whose connection was lost is taken over by the next `send_frame` with its job id."""
        with self._lock:
            batch = [(frame, image, motion)]
            request = self._send(mt.SEQUENCE, {"job_id": job_id, **_frame_params(batch), "last": False}, _frame_buffers(batch))
            self._ack(request, timeout)
            with self._cancel_on_error(job_id):
                for msg in self._job_messages(job_id, {request.id}, progress, timeout):
                    if msg.type == mt.RESULT:
                        raise DaemonError("cancelled", f"sequence {job_id} ended before frame {frame} was made", job_id=job_id)
                    if msg.params.get("frame") == frame:
                        return msg.buffers[0], dict(msg.params.get("summary") or {})
            raise DaemonError("malformed", "the daemon's answers ended early")  # _job_messages only ends on RESULT

    def close_sequence(self, job_id: str, timeout: float | None = None) -> int:
        """End an open sequence once its frames are in; returns how many frames it produced."""
        with self._lock:
            request = self._send(mt.SEQUENCE, {"job_id": job_id, "frames": [], "last": True})
            self._ack(request, timeout)
            for msg in self._job_messages(job_id, {request.id}, None, timeout):
                if msg.type == mt.RESULT:
                    return int(msg.params.get("frames", 0))
            return 0

    def cancel(self, job_id: str, timeout: float | None = None) -> None:
        """Cancel a job by id; from any thread (it uses its own short connection)."""
        with Client(self.info, timeout=self.timeout, name=self.name, context=self._context) as other:
            other._request(mt.CANCEL, {"job_id": job_id}, timeout=timeout)

    def shutdown(self, timeout: float | None = None) -> None:
        """Ask the daemon to cancel its jobs, remove its connection file and exit."""
        with self._lock:
            self._request(mt.SHUTDOWN, {}, timeout=timeout)

    # -- plumbing --------------------------------------------------------------------------------

    def _send(self, type: str, params: dict[str, Any], buffers: Iterable[Image] = ()) -> Message:
        msg = Message(type, self._session, params, tuple(buffers))
        send_message(self._socket, msg, self.info.key)
        return msg

    def _recv(self, timeout: float | None) -> Message:
        """The next message; a local daemon whose process has ended is reported within seconds (its pid is checked
        every second), not at the timeout."""
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        while not self._socket.poll(max(0.0, min(_LIVENESS_CHECK, deadline - time.monotonic())) * 1000, zmq.POLLIN):
            if self.info.local and not pid_alive(self.info.pid):
                raise DaemonUnavailable(f"the daemon at {self.info.url} (pid {self.info.pid}) has exited; start it again")
            if time.monotonic() >= deadline:
                raise DaemonTimeout(
                    f"no answer from the daemon at {self.info.url} within {wait:g} s (if it restarted, connect again to read its new connection file)"
                )
        try:
            return recv_message(self._socket, self.info.key, self._guard, max_pixels=MAX_PIXELS)
        except ProtocolError as exc:
            raise DaemonError(exc.code, f"unreadable message from the daemon: {exc.message}") from None
        except Exception as exc:  # noqa: BLE001 - whatever a decoder bug raises, the caller gets the one error type it handles
            raise DaemonError("malformed", f"unreadable message from the daemon: {type(exc).__name__}: {exc}") from None

    def _reply_to(self, ids: set[str], timeout: float | None) -> Message:
        """The next reply to one of `ids`; leftovers of earlier calls are skipped. Errors are raised."""
        while True:
            msg = self._recv(timeout)
            if msg.type == mt.ERROR and msg.parent_id is None:
                raise DaemonError.from_reply(msg)  # the daemon could not read our request at all
            if msg.parent_id in ids:
                if msg.type == mt.ERROR:
                    raise DaemonError.from_reply(msg)
                return msg

    def _request(self, type: str, params: dict[str, Any], buffers: Iterable[Image] = (), timeout: float | None = None) -> Message:
        return self._reply_to({self._send(type, params, buffers).id}, timeout)

    def _ack(self, request: Message, timeout: float | None) -> dict[str, Any]:
        reply = self._reply_to({request.id}, timeout)
        if reply.type != mt.ACK:
            raise DaemonError("unexpected", f"expected an ack to {request.type}, got {reply.type}")
        return reply.params

    def _job_messages(self, job_id: str, requests: set[str], progress: ProgressCallback | None, timeout: float | None) -> Iterator[Message]:
        """The job's results (frame_result, then result) in order; progress goes to the callback,
        errors are raised. Replies to our later requests for the job (acks) are skipped."""
        while True:
            msg = self._recv(timeout)
            ours = msg.params.get("job_id") == job_id or msg.parent_id in requests or msg.parent_id is None
            if not ours:
                continue
            if msg.type == mt.ERROR:
                error = DaemonError.from_reply(msg)
                error.job_id = error.job_id if msg.params.get("job_id") == job_id else None
                raise error
            if msg.type == mt.PROGRESS:
                if progress is not None:
                    p = msg.params
                    progress(Progress(job_id, float(p["fraction"]), str(p["stage"]), float(p["stage_fraction"]), p.get("frame"), int(p.get("frames_done", 0))))
            elif msg.type in (mt.FRAME_RESULT, mt.RESULT):
                yield msg
                if msg.type == mt.RESULT:
                    return

    @contextmanager
    def _cancel_on_error(self, job_id: str) -> Iterator[None]:
        """If anything but the job's own end interrupts us (a raising callback, a timeout), cancel the job
        on the daemon and wait briefly for it to confirm, so nothing of it is left running."""
        try:
            yield
        except BaseException as exc:
            if not (isinstance(exc, DaemonError) and exc.job_id == job_id):
                self._abandon(job_id)
            raise

    def _abandon(self, job_id: str) -> None:
        try:
            cancel = self._send(mt.CANCEL, {"job_id": job_id})
            deadline = time.monotonic() + min(self.timeout, _PROBE_TIMEOUT)
            while (left := deadline - time.monotonic()) > 0:
                msg = self._recv(left)
                ended = msg.params.get("job_id") == job_id and msg.type in (mt.RESULT, mt.ERROR)
                if ended or (msg.parent_id == cancel.id and msg.type == mt.ERROR):  # unknown_job: it had ended
                    return
        except DaemonError:
            pass  # the daemon is gone or silent: nothing is left to cancel that we can reach


def motion_buffer(width: int, height: int, data: Any, forward: bool = False) -> Image:
    """A temporal sequence frame's motion (PROTOCOL.md, temporal sequences): `data` holds little-endian float32
    displacements in pixels, top row first, per pixel (dx, dy) towards where it was in the previous frame
    (x right, y down); with `forward`, followed by (dx, dy) taking the previous frame's pixel at this position to
    where it is in this frame (the previous frame's own forward vectors)."""
    return Image(width, height, 4 if forward else 2, "f32", data, "motion")


def _frame_params(batch: list[tuple]) -> dict[str, Any]:
    params: dict[str, Any] = {"frames": [item[0] for item in batch]}
    if moving := [item[0] for item in batch if len(item) > 2 and item[2] is not None]:
        params["motion_frames"] = moving
    return params


def _frame_buffers(batch: list[tuple]) -> list[Image]:
    contents = [item[1].as_role("content") for item in batch]
    return contents + [item[2].as_role("motion") for item in batch if len(item) > 2 and item[2] is not None]


class _Lookahead:
    """Batches from an iterator, knowing whether it is exhausted (so the last batch can say `last`)."""

    def __init__(self, items: Iterable[tuple]) -> None:
        self._items = iter(items)
        self._next = next(self._items, None)

    @property
    def exhausted(self) -> bool:
        return self._next is None

    def take(self, count: int) -> list[tuple]:
        batch = []
        while self._next is not None and len(batch) < count:
            batch.append(self._next)
            self._next = next(self._items, None)
        return batch


# -- finding and starting the daemon -----------------------------------------------------------------


def connect(path: Path | None = None, *, autostart: bool = False, timeout: float = DEFAULT_TIMEOUT, start_timeout: float = DEFAULT_START_TIMEOUT, name: str = "styleswap_client") -> Client:
    """A client of the daemon named by the connection file; with `autostart`, start one if none answers."""
    path = Path(path) if path is not None else default_connection_path()
    try:
        return _probe(path, timeout, name)
    except DaemonUnavailable:
        if not autostart:
            raise
    process = start_daemon(path)
    info = wait_until_ready(path, timeout=start_timeout, process=process)
    return Client(info, timeout=timeout, name=name)


def backend_command() -> list[str]:
    """How to start the daemon: `$STYLESWAP_BACKEND` (a command line), else `styleswap-backend` on PATH,
    else this Python with `-m styleswap.daemon.command`."""
    if command := os.environ.get(BACKEND_ENV):
        return shlex.split(command, posix=os.name != "nt")
    if script := shutil.which("styleswap-backend"):
        return [script]
    return [sys.executable, "-m", "styleswap.daemon.command"]


def start_daemon(path: Path, args: Iterable[str] = ()) -> subprocess.Popen:
    """Launch a daemon detached from this process (it outlives us), writing to `path`."""
    detach: dict[str, Any] = {"start_new_session": True} if os.name != "nt" else {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS}
    return subprocess.Popen(
        [*backend_command(), "--connection-file", str(path), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **detach,
    )


def wait_until_ready(path: Path, *, timeout: float = DEFAULT_START_TIMEOUT, process: subprocess.Popen | None = None) -> ConnectionInfo:
    """Wait for a daemon to publish `path` (it does so only once its models are loaded) and answer hello.

    If `process` exits with an error first, say so at once instead of waiting out the timeout (it exits
    with 0 when another daemon already runs; then that one's file is awaited).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = _probe(path, _PROBE_TIMEOUT, "styleswap_client")
            client.close()
            return client.info
        except DaemonUnavailable as exc:
            problem = exc.message
        if process is not None and process.poll() not in (None, 0):
            raise DaemonUnavailable(f"the daemon exited with status {process.returncode} before it was ready; see its log (styleswap-backend --help shows where)")
        if time.monotonic() > deadline:
            raise DaemonTimeout(f"no daemon was ready within {timeout:g} s: {problem}")
        time.sleep(0.05)  # the file appears when the daemon is ready; no portable way to wait on that


def _probe(path: Path, timeout: float, name: str) -> Client:
    """A client whose daemon has just answered hello; DaemonUnavailable when there is no live daemon."""
    try:
        info = read_connection_file(path)
    except FileNotFoundError:
        raise DaemonUnavailable(f"no daemon is running (no connection file at {path}); start one with `styleswap-backend`") from None
    except ConnectionFileError as exc:
        raise DaemonUnavailable(f"unusable connection file: {exc}") from None
    if not pid_alive(info.pid):
        raise DaemonUnavailable(f"the daemon that wrote {path} (pid {info.pid}) is no longer running")
    client = Client(info, timeout=timeout, name=name)
    try:
        client.hello(timeout=min(timeout, _PROBE_TIMEOUT))
    except DaemonError as exc:
        client.close()
        raise DaemonUnavailable(f"the daemon (pid {info.pid}) does not answer: {exc.message}") from None
    return client

