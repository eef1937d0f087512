"""The daemon's server thread: the ROUTER socket, authentication, request dispatch, and the lifecycle
(bind, load, publish the connection file, serve, shut down cleanly).

Authentication policy (PROTOCOL.md section 3): a message that fails before its signature is verified
(too few frames, bad signature) is answered only on a connection that has already proven the key with
an earlier valid message, so a stranger gets nothing at all while a key holder whose frames got mangled
learns why. Everything after authentication gets an `error` reply.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import zmq

from styleswap import __version__
from styleswap.daemon.wire import image_to_array
from styleswap.engine.stylize import METHODS
from styleswap.engine.temporal import TemporalState
from styleswap_protocol import (
    PROTOCOL_VERSION,
    BadSignatureError,
    ConnectionFileError,
    ConnectionInfo,
    Image,
    MalformedMessageError,
    Message,
    ProtocolError,
    ReplayedMessageError,
    ReplayGuard,
    decode,
    is_authentic,
    new_id,
    new_key,
    private_folder,
    read_connection_file,
    send_message,
    short_repr,
    split_identity,
    write_connection_file,
)
from styleswap_protocol import (
    message_types as mt,
)

from .config import DaemonConfig
from .errors import ENGINE_FAILED, UNKNOWN_STYLE, UNKNOWN_TYPE, RequestError
from .jobs import Jobs
from .listen import Listener, listen
from .outbox import Outbox
from .params import bad, check_content, check_keys, check_mask, check_motion, optional, parse_frames, parse_motion_frames, parse_options, required
from .peers import Disconnects
from .refusals import RefusalLog
from .style_cache import ByteLRU, style_id_of
from .worker import Worker

log = logging.getLogger("styleswap.daemon")

_TRUSTED_CONNECTIONS = 4096  # connections remembered as key holders
_BURST = 64  # requests handled before the outbox gets its turn
_TICK_MS = 500  # housekeeping (idle and parked sequences) at least this often
_PER_FRAME_OVERHEAD = 1 << 20


class Daemon:
    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.limits = config.limits
        self.key = new_key()
        self.session = new_id()  # the session of replies that answer no readable request
        self.started = time.time()
        self.info: ConnectionInfo | None = None
        self.ready = threading.Event()  # set once the connection file is published
        self.finished = threading.Event()  # set once `run` has cleaned up
        self.restart_requested = False
        self._stopping = threading.Event()
        self._context = zmq.Context()
        self._outbox = Outbox(self._context)
        self.jobs = Jobs(self.limits, self._outbox.put)
        self.styles = ByteLRU(self.limits.style_cache_bytes)
        self.worker = Worker(config, self.jobs, self.styles)
        self._guard = ReplayGuard()
        self._trusted: OrderedDict[bytes, None] = OrderedDict()
        self._listener: Listener | None = None
        self._disconnects: Disconnects | None = None
        self._refusals = RefusalLog(log)
        self._handlers: dict[str, Callable[[bytes, Message], Message]] = {
            mt.HELLO: self._hello,
            mt.STYLIZE: self._stylize,
            mt.UPLOAD_STYLE: self._upload_style,
            mt.SEQUENCE: self._sequence,
            mt.CANCEL: self._cancel,
            mt.SHUTDOWN: self._shutdown,
        }

    # -- lifecycle -------------------------------------------------------------------------------

    def run(self, on_ready: Callable[[ConnectionInfo], None] = lambda info: None) -> None:
        """Bind, load the models, publish the connection file, serve until stopped, clean up."""
        router = self._context.socket(zmq.ROUTER)
        try:
            router.router_mandatory = 1  # sending to a vanished client raises instead of vanishing silently
            router.sndtimeo = 0  # and a client that stops reading cannot block everyone else
            router.maxmsgsize = self.limits.max_pixels * 16 + _PER_FRAME_OVERHEAD  # the largest legal frame
            private_folder(self.config.connection_file.parent)
            self._listener = listen(router, self._context, self.config.transport, self.key, self.config.connection_file, self.config.port)
            self._disconnects = Disconnects(router)
            self.worker.start()
            self.worker.ready.wait()
            where = self._listener
            self.info = ConnectionInfo(
                port=where.port, key=self.key, pid=os.getpid(), version=__version__, started=self.started,
                transport=where.transport, path=str(where.path) if where.path else None, ip="" if where.path else "127.0.0.1",
            )  # fmt: skip
            write_connection_file(self.info, self.config.connection_file)
            log.info("ready on %s (pid %d, device %s), connection file %s", self.info.url, os.getpid(), self.worker.device, self.config.connection_file)
            self.ready.set()
            on_ready(self.info)
            self._serve(router)
        finally:
            self._close(router)
            self.finished.set()

    def stop(self, restart: bool = False) -> None:
        """Ask the server to shut down (from any thread or a signal handler)."""
        self.restart_requested = self.restart_requested or restart
        self._stopping.set()
        self._outbox.wake()

    @property
    def paused(self) -> bool:
        return self.jobs.queue.paused

    def set_paused(self, paused: bool) -> None:
        """Hold queued work (the running image still finishes); requests are still accepted."""
        self.jobs.queue.set_paused(paused)
        log.info("paused" if paused else "resumed")

    @property
    def state(self) -> str:
        """starting, error, paused, busy or idle: what the tray icon shows."""
        if not self.ready.is_set():
            return "starting"
        if self.worker.load_error or self.jobs.last_failure:
            return "error"
        if self.paused:
            return "paused"
        return "busy" if len(self.jobs) else "idle"

    @property
    def problem(self) -> str | None:
        return self.worker.load_error or self.jobs.last_failure

    def describe(self) -> dict[str, Any]:
        """The `info` reply: what a client or the tray wants to know before sending work."""
        return {
            "protocol": PROTOCOL_VERSION,
            "daemon_version": __version__,
            "pid": os.getpid(),
            "max_pixels": self.limits.max_pixels,
            "engine": {
                "state": self.state,
                "problem": self.problem,
                "device": self.worker.device,
                "precision": self.worker.precision,
                "methods": list(METHODS),
                "models": list(self.worker.models),
                "memory": {"rss_bytes": _rss_bytes(), "style_cache_bytes": self.styles.nbytes, **self.worker.memory()},
                "styles_cached": len(self.styles),
                "jobs": len(self.jobs),
                "queued_images": len(self.jobs.queue),
                "paused": self.paused,
                "uptime": time.time() - self.started,
            },
            "limits": self.limits.public(),
        }

    # -- the loop --------------------------------------------------------------------------------

    def _serve(self, router: zmq.Socket) -> None:
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(self._outbox.receiver, zmq.POLLIN)
        assert self._disconnects is not None
        poller.register(self._disconnects.monitor, zmq.POLLIN)
        while not self._stopping.is_set():
            events = dict(poller.poll(_TICK_MS))
            self._drop_disconnected()
            if router in events:
                for _ in range(_BURST):
                    if not router.poll(0, zmq.POLLIN):
                        break
                    self._drop_disconnected()  # before the message, so a reused descriptor is not taken for its old client
                    self._receive(router)
            self._flush(router)
            self.jobs.housekeeping()
            self._refusals.tick()

    def _close(self, router: zmq.Socket) -> None:
        log.info("shutting down")
        self._refusals.flush()
        self.jobs.cancel_all("the daemon is shutting down")
        self.jobs.queue.close()
        if self.worker.is_alive():
            self.worker.join(timeout=self.limits.request_timeout)  # a running image stops at its next progress check
        self._flush(router)
        self._remove_connection_file()
        if self._disconnects is not None:
            self._disconnects.close()
        router.close(linger=1000)  # let the last replies (the shutdown ack) leave
        if self._listener is not None:
            self._listener.close()
        self._outbox.close()
        self._context.term()
        log.info("stopped")

    def _remove_connection_file(self) -> None:
        path: Path = self.config.connection_file
        try:
            if read_connection_file(path).pid == os.getpid():  # not a successor's
                path.unlink()
        except (FileNotFoundError, ConnectionFileError):
            pass

    def _drop_disconnected(self) -> None:
        assert self._disconnects is not None
        for identity in self._disconnects.gone():
            self._peer_gone(identity, "disconnected")

    def _receive(self, router: zmq.Socket) -> None:
        received = router.recv_multipart(copy=False)
        identity, frames = split_identity([frame.buffer for frame in received])
        if len(received) > 1 and self._disconnects is not None:
            self._disconnects.seen(identity, received[1])
        try:
            msg = decode(frames, self.key, self._guard, max_pixels=self.limits.max_pixels)
        except ReplayedMessageError as exc:
            self._refusals.refused(exc.code, f"dropped: {exc.message}")
        except ProtocolError as exc:
            self._refuse(router, identity, exc, authenticated=len(frames) >= 2 and not isinstance(exc, BadSignatureError))
        except Exception as exc:  # noqa: BLE001 - a decoder bug must cost one message, not the daemon and its jobs
            log.exception("a message could not be decoded")
            error = MalformedMessageError(f"the daemon could not decode this message: {type(exc).__name__}: {short_repr(str(exc))}")
            self._refuse(router, identity, error, authenticated=is_authentic(frames, self.key))
        else:
            self._trust(identity)
            self._dispatch(router, identity, msg)

    def _refuse(self, router: zmq.Socket, identity: bytes, exc: ProtocolError, authenticated: bool) -> None:
        self._refusals.refused(exc.code, exc.message)
        if authenticated:
            self._trust(identity)
        elif identity not in self._trusted:
            return  # a stranger: not even an error
        self._send(router, identity, Message(mt.ERROR, self.session, exc.to_params(), parent_id=exc.msg_id))

    def _trust(self, identity: bytes) -> None:
        self._trusted[identity] = None
        self._trusted.move_to_end(identity)
        if len(self._trusted) > _TRUSTED_CONNECTIONS:
            self._trusted.popitem(last=False)

    def _dispatch(self, router: zmq.Socket, identity: bytes, msg: Message) -> None:
        handler = self._handlers.get(msg.type)
        try:
            if handler is None:
                raise RequestError(UNKNOWN_TYPE, f"unknown request type {msg.type!r}; requests are {sorted(self._handlers)}")
            reply = handler(identity, msg)
        except RequestError as exc:
            reply = msg.reply(mt.ERROR, exc.to_params())
        except Exception as exc:  # noqa: BLE001 - a bug in one request must not take the daemon down
            log.exception("request %s failed", msg.type)
            reply = msg.reply(mt.ERROR, RequestError(ENGINE_FAILED, f"the daemon failed on this request: {type(exc).__name__}: {exc}").to_params())
        self._send(router, identity, reply)

    def _flush(self, router: zmq.Socket) -> None:
        for identity, msg in self._outbox.drain():
            self._send(router, identity, msg)

    def _send(self, router: zmq.Socket, identity: bytes, msg: Message) -> None:
        try:
            send_message(router, msg, self.key, identity=identity)
        except zmq.Again:
            self._peer_gone(identity, "stopped reading")
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EHOSTUNREACH:
                raise
            self._peer_gone(identity, "disconnected")
        except ProtocolError as exc:
            log.error("could not encode a %s reply: %s", msg.type, exc.message)

    def _peer_gone(self, identity: bytes, why: str) -> None:
        if identity in self._trusted:
            log.info("a client %s; dropping its work", why)
            del self._trusted[identity]
        self.jobs.peer_gone(identity)

    # -- requests (each returns its reply) ---------------------------------------------------------

    def _hello(self, identity: bytes, msg: Message) -> Message:
        check_keys(msg.params, {"client"})
        _buffers(msg)
        client = optional(msg.params, "client", str)
        log.debug("hello from %s", client or "an unnamed client")
        return msg.reply(mt.INFO, self.describe())

    def _upload_style(self, identity: bytes, msg: Message) -> Message:
        check_keys(msg.params, {"name"})
        optional(msg.params, "name", str)
        [style] = _buffers(msg)["style"]
        style_id, _ = self._store_style(style)
        return msg.reply(mt.ACK, {"style_id": style_id})

    def _stylize(self, identity: bytes, msg: Message) -> Message:
        check_keys(msg.params, {"options", "style_id"})
        options = parse_options(msg.params.get("options", {}))
        style_id = optional(msg.params, "style_id", str)
        given = _buffers(msg)
        [content] = given["content"]
        if (style_id is None) == (not given["style"]):
            raise bad(f"stylize takes the style either as a style buffer or as a style_id, not {'both' if style_id else 'neither'}")
        check_content(content, options)
        mask = given["mask"][0] if given["mask"] else None
        if mask is not None:
            check_mask(mask, content)
        if style_id is None:
            style_id, style = self._store_style(given["style"][0])
        else:
            style = self._lookup_style(style_id)
        job = self.jobs.submit_stylize(identity, msg, options, style_id, style, content, mask)
        return msg.reply(mt.ACK, {"job_id": job.id})

    def _sequence(self, identity: bytes, msg: Message) -> Message:
        params = msg.params
        check_keys(params, {"job_id", "options", "style_id", "frames", "last", "resume_from", "temporal", "motion_frames"})
        given = _buffers(msg)
        contents = given["content"]
        frames = parse_frames(params.get("frames", []), len(contents))
        motions = dict(zip(parse_motion_frames(params.get("motion_frames", []), frames, len(given["motion"])), given["motion"]))
        last = bool(optional(params, "last", bool))
        resume_from = optional(params, "resume_from", int)
        job_id = optional(params, "job_id", str)
        if job_id is None:
            options = parse_options(required(params, "options", dict))
            style_id = required(params, "style_id", str)
            style = self._lookup_style(style_id)
            temporal = bool(optional(params, "temporal", bool))
            if temporal and self.config.ray:
                raise bad("a temporal sequence runs its frames one after another on one engine, not on a Ray cluster")
            _check_frames(frames, contents, motions, options, temporal)
            job = self.jobs.create_sequence(identity, msg, options, style_id, style, TemporalState(options.temporal_margin, options.temporal_blend) if temporal else None)
            try:
                self.jobs.add_frames(job, frames, contents, last, resume_from, motions)
            except RequestError:
                self.jobs.discard(job)
                raise
        else:
            if "options" in params or "style_id" in params or "temporal" in params:
                raise bad("options, style_id and temporal are fixed when a sequence is created; send only job_id and frames")
            check = lambda job: _check_frames(frames, contents, motions, job.options, job.temporal is not None)  # noqa: E731
            job = self.jobs.continue_sequence(job_id, identity, msg, check, frames, contents, last, resume_from, motions)
        return msg.reply(mt.ACK, {"job_id": job.id})

    def _cancel(self, identity: bytes, msg: Message) -> Message:
        check_keys(msg.params, {"job_id"})
        _buffers(msg)
        job = self.jobs.cancel(required(msg.params, "job_id", str))
        return msg.reply(mt.ACK, {"job_id": job.id})

    def _shutdown(self, identity: bytes, msg: Message) -> Message:
        check_keys(msg.params, ())
        _buffers(msg)
        log.info("shutdown requested by a client")
        self.stop()
        return msg.reply(mt.ACK)

    # -- styles ------------------------------------------------------------------------------------

    def _store_style(self, image: Image) -> tuple[str, Any]:
        style_id = style_id_of(image)
        pixels = self.styles.get((style_id,))
        if pixels is None:
            pixels = image_to_array(image)
            if not self.styles.put((style_id,), pixels, pixels.nbytes):
                raise bad(f"the style image needs {pixels.nbytes / 2**20:.0f} MB, more than the daemon's style cache of {self.limits.style_cache_bytes / 2**20:.0f} MB; downscale it")
        return style_id, pixels

    def _lookup_style(self, style_id: str) -> Any:
        pixels = self.styles.get((style_id,))
        if pixels is None:
            raise RequestError(UNKNOWN_STYLE, f"no style {style_id!r} here: the daemon restarted or dropped it to make room; upload it again")
        return pixels


def _check_frames(frames: list[int], contents: tuple[Image, ...], motions: dict[int, Image], options: Any, temporal: bool) -> None:
    """Every frame's content, and its motion (only a temporal sequence takes motion), before any is queued."""
    if motions and not temporal:
        raise bad("motion buffers belong to a temporal sequence: create the sequence with temporal true")
    for frame, image in zip(frames, contents):
        check_content(image, options)
        if frame in motions:
            check_motion(motions[frame], image, frame)


def _buffers(msg: Message) -> dict[str, tuple[Image, ...]]:
    """The request's buffers by role, refused unless each role the request takes comes as often as it may and
    no other role (or an unnamed buffer) comes at all."""
    takes = mt.BUFFER_ROLES[msg.type]
    if stray := sorted({image.role or "(none)" for image in msg.buffers} - set(takes)):
        roles = ", ".join(takes) or "no buffers"
        raise bad(f"{msg.type} takes {roles}; got buffers with role {', '.join(stray)}")
    found = {role: msg.with_role(role) for role in takes}
    for role, (fewest, most) in takes.items():
        if len(found[role]) < fewest or most is not None and len(found[role]) > most:
            wanted = f"{fewest}" if fewest == most else f"{fewest} to {most}"
            raise bad(f"{msg.type} takes {wanted} {role} buffer(s); got {len(found[role])}")
    return found


def _rss_bytes() -> int | None:
    """Resident memory now; None where /proc is missing (macOS, Windows)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None
