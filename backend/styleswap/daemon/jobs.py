"""Jobs from submission to their final reply: limits, cancel, timeouts, resume, clients that vanish.

Shared by the server thread (submit, cancel, vanished peers) and the worker thread (begin, progress,
finish), under one lock. Every reply a job produces goes through `send`, the server's outbox, so the
server thread stays the only one touching the socket. A job ends exactly once (`_close`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from styleswap.engine.stylize import Options
from styleswap_protocol import Image, Message, new_id
from styleswap_protocol import message_types as mt

from .config import Limits
from .errors import BUSY, CANCELLED, ENGINE_FAILED, TIMEOUT, UNKNOWN_JOB, RequestError
from .fair_queue import FairQueue, admission_share

log = logging.getLogger("styleswap.daemon")

STYLIZE = "stylize"
SEQUENCE = "sequence"

Send = Callable[[bytes, Message], None]
# The engine reports every chunk of work (thousands for a long optimisation); an event goes out when a new stage
# starts, the image has moved on by PROGRESS_STEP, the image is done, or PROGRESS_INTERVAL seconds have passed (so a
# slow chunk still keeps the client's wait alive).
PROGRESS_STEP = 0.005
PROGRESS_INTERVAL = 0.5


@dataclass(eq=False)
class Job:
    id: str
    kind: str
    options: Options
    style_id: str
    style: np.ndarray  # the style's pixels, held so a cache eviction cannot break an accepted job
    identity: bytes  # the connection events go to: the sender of the job's latest request
    request: Message  # that request; events answer it (parent_id, session)
    end: RequestError | None = None  # an end asked for from outside (cancel, shutdown, gone client)
    running: int = 0  # its frames now running: several at once when the work runs on a cluster
    closed: bool = False
    orphaned_since: float | None = None  # a sequence whose client vanished waits here to be resumed
    last_sent: float = field(default_factory=time.monotonic)
    waiting: int = 0  # frames in the queue
    seen: set[int] = field(default_factory=set)
    held: OrderedDict[int, Image] = field(default_factory=OrderedDict)
    produced: int = 0
    last: bool = False
    temporal: Any = None  # a temporal sequence's TemporalState (the worker's alone: only it runs the job's frames)
    chain_frame: int | None = None  # the frame the temporal chain last went through
    temporal_device: str = ""  # the device its state's tensors are on ("": none yet)

    def event(self, type: str, params: dict[str, Any], buffers: Iterable[Image] = ()) -> Message:
        return self.request.reply(type, {"job_id": self.id, **params}, buffers)


@dataclass(eq=False)
class Task:
    """One image of work: the unit the queue orders and the worker runs."""

    job: Job
    content: Image
    frame: int | None = None
    mask: Image | None = None  # one channel of the content's size: where to stylise
    motion: Image | None = None  # a temporal sequence's frame: the motion from the frame before (params.check_motion)
    deadline: float = float("inf")
    reported: tuple[str, float, float] = ("", -1.0, 0.0)  # the last progress event sent: stage, fraction of the image, when


class Jobs:
    def __init__(self, limits: Limits, send: Send) -> None:
        self.limits = limits
        self._send = send
        self._jobs: dict[str, Job] = {}
        self._lock = threading.RLock()
        self.queue: FairQueue[Task] = FairQueue(runnable=lambda task: task.job.orphaned_since is None)
        self.last_failure: str | None = None  # the latest crash, until a job succeeds again

    def __len__(self) -> int:
        return len(self._jobs)

    # -- server side ---------------------------------------------------------------------------

    def submit_stylize(self, identity: bytes, request: Message, options: Options, style_id: str, style: np.ndarray, content: Image, mask: Image | None = None) -> Job:
        with self._lock:
            self._admit(identity)
            job = self._new(STYLIZE, identity, request, options, style_id, style)
            self._enqueue(Task(job, content, mask=mask))
            return job

    def create_sequence(self, identity: bytes, request: Message, options: Options, style_id: str, style: np.ndarray, temporal: Any = None) -> Job:
        with self._lock:
            self._admit(identity)
            job = self._new(SEQUENCE, identity, request, options, style_id, style)
            job.temporal = temporal
            return job

    def continue_sequence(
        self,
        job_id: str,
        identity: bytes,
        request: Message,
        check: Callable[[Job], None],
        frames: list[int],
        images: Iterable[Image],
        last: bool,
        resume_from: int | None,
        motions: dict[int, Image] | None = None,
    ) -> Job:
        """More frames for a sequence, from this connection: ``check(job)`` may refuse them first; then the job's
        events go to this connection (a resume after a reconnect) and the frames are added, in one step: a frame
        finishing in between would reach the new connection and then again among the held results resent."""
        with self._lock:
            job = self._get(job_id)
            if job.end is not None:  # dropped or cancelled, its running frame not yet stopped: gone all the same
                raise RequestError(UNKNOWN_JOB, f"no job {job_id!r}: {job.end.message}")
            if job.kind != SEQUENCE:
                raise RequestError(UNKNOWN_JOB, f"job {job_id} is a single image, not a sequence")
            check(job)
            self._attach(job, identity, request)
            self.add_frames(job, frames, images, last, resume_from, motions)
            return job

    def add_frames(self, job: Job, frames: list[int], images: Iterable[Image], last: bool, resume_from: int | None, motions: dict[int, Image] | None = None) -> None:
        """Queue the frames not seen before; resend held results from `resume_from` on; finish if that was all."""
        with self._lock:
            new = [(frame, image) for frame, image in zip(frames, images, strict=True) if frame not in job.seen]
            if job.waiting + len(new) > self.limits.max_pending_frames:
                raise RequestError(
                    BUSY,
                    f"sequence {job.id} would have {job.waiting + len(new)} frames waiting, the limit is "
                    f"{self.limits.max_pending_frames}; send more as results arrive",
                    {"waiting": job.waiting, "limit": self.limits.max_pending_frames},
                )
            if resume_from is not None:
                for frame in [f for f in job.held if f < resume_from]:
                    del job.held[frame]
                for frame, image in job.held.items():
                    self._emit(job, job.event(mt.FRAME_RESULT, {"frame": frame}, [image]))
            for frame, image in new:
                job.seen.add(frame)
                self._enqueue(Task(job, image, frame, motion=(motions or {}).get(frame)))
            job.last = job.last or last
            self._close_if_complete(job)

    def discard(self, job: Job) -> None:
        """Forget a job created for a request that then failed, before anyone was told its id."""
        with self._lock:
            self._close(job, None)

    def cancel(self, job_id: str, reason: str = "cancelled by request") -> Job:
        with self._lock:
            job = self._get(job_id)
            self._end(job, RequestError(CANCELLED, reason), notify=True)
            return job

    def cancel_all(self, reason: str) -> None:
        with self._lock:
            for job in list(self._jobs.values()):
                self._end(job, RequestError(CANCELLED, reason), notify=True)

    def peer_gone(self, identity: bytes) -> None:
        """A connection we could not send to: its single images are dropped, its sequences parked for resume."""
        with self._lock:
            for job in [j for j in self._jobs.values() if j.identity == identity]:
                if job.kind == SEQUENCE:
                    if job.orphaned_since is None:
                        log.info("sequence %s lost its client; parked for %g s", job.id, self.limits.orphan_grace)
                        job.orphaned_since = time.monotonic()
                elif job.end is None:  # each failed send of a running job's queued events lands here: say it once
                    log.info("job %s dropped: its client went away", job.id)
                    self._end(job, RequestError(CANCELLED, "the client went away"), notify=False)

    def housekeeping(self) -> None:
        """Drop parked sequences not resumed in time, and ping idle ones: a client that vanished while
        its sequence waited for frames is only noticed when a send to it fails."""
        grace = self.limits.orphan_grace
        now = time.monotonic()
        with self._lock:
            for job in list(self._jobs.values()):
                if job.orphaned_since is not None and job.orphaned_since < now - grace:
                    log.info("sequence %s dropped: not resumed within %g s", job.id, grace)
                    self._end(job, RequestError(CANCELLED, "not resumed in time"), notify=False)
                elif job.kind == SEQUENCE and not job.running and not job.waiting and now - job.last_sent > grace / 2:
                    idle = {"stage": "waiting", "fraction": 0.0, "stage_fraction": 0.0, "frames_done": job.produced, "frames_submitted": len(job.seen)}
                    self._emit(job, job.event(mt.PROGRESS, idle))

    # -- worker side ---------------------------------------------------------------------------

    def begin(self, task: Task) -> bool:
        """Mark the task running; False if its job ended meanwhile (skip it)."""
        with self._lock:
            task.job.waiting -= 1
            if task.job.closed:
                return False
            task.job.running += 1
            task.deadline = time.monotonic() + self.limits.request_timeout
            return True

    def progress(self, task: Task, stage: str, fraction: float, done: float) -> None:
        """The engine's progress callback (``done``: the image's share done, stages weighted by their work): raises
        to stop the job (cancel, timeout, gone client)."""
        job = task.job
        if job.end is not None:
            raise job.end
        if time.monotonic() > task.deadline:
            raise RequestError(TIMEOUT, f"the image took longer than the daemon's limit of {self.limits.request_timeout:g} s")
        fraction, done = min(max(fraction, 0.0), 1.0), min(max(done, 0.0), 1.0)
        now = time.monotonic()
        stage_before, done_before, sent = task.reported
        if stage == stage_before and done < 1.0 and done - done_before < PROGRESS_STEP and now - sent < PROGRESS_INTERVAL:
            return
        task.reported = (stage, done, now)
        params: dict[str, Any] = {"stage": stage, "stage_fraction": fraction, "fraction": done}
        if task.frame is not None:  # the job's total is open-ended: the client knows how many frames it has
            params.update(frame=task.frame, frames_done=job.produced, frames_submitted=len(job.seen))
        with self._lock:
            self._emit(job, job.event(mt.PROGRESS, params))

    def finish(self, task: Task, image: Image, details: dict[str, Any]) -> None:
        job = task.job
        with self._lock:
            job.running -= 1
            self.last_failure = None
            if job.closed:  # another of its frames failed meanwhile and ended it
                return
            if job.end is not None:
                self._close(job, job.event(mt.ERROR, job.end.to_params()))
            elif task.frame is None:
                self._close(job, job.event(mt.RESULT, details, [image]))
            else:
                job.produced += 1
                job.held[task.frame] = image
                while len(job.held) > self.limits.max_held_frames:
                    job.held.popitem(last=False)
                self._emit(job, job.event(mt.FRAME_RESULT, {"frame": task.frame, **details}, [image]))
                self._close_if_complete(job)

    def fail(self, task: Task, error: RequestError) -> None:
        with self._lock:
            task.job.running -= 1
            if error.code == ENGINE_FAILED:
                self.last_failure = error.message
            self._close(task.job, task.job.event(mt.ERROR, error.to_params()))

    # -- internals -------------------------------------------------------------------------------

    def _admit(self, identity: bytes) -> None:
        """Refuse a job when the queue is full, or when this client already holds more than its share (`admission_share`)."""
        limit = self.limits.max_queued_jobs
        if len(self._jobs) >= limit:
            raise RequestError(
                BUSY,
                f"jobs queued or running: {len(self._jobs)}, the daemon's limit is {limit}; retry later",
                {"jobs": len(self._jobs), "limit": limit},
            )
        held = Counter(job.identity for job in self._jobs.values())
        if not admission_share(held[identity], held.values(), limit):
            raise RequestError(
                BUSY,
                f"this client holds {held[identity]} of the {limit} queue places, its share while others may need one; "
                "retry when one of its jobs has ended",
                {"jobs": len(self._jobs), "limit": limit, "yours": held[identity]},
            )

    def _attach(self, job: Job, identity: bytes, request: Message) -> None:
        """Route a sequence's events to this connection from now on."""
        if identity != job.identity:  # its queued frames go on first, in their order, in the new client's lane
            for task in self.queue.remove(lambda task: task.job is job):
                self.queue.put(identity, task)
        job.identity, job.request = identity, request
        if job.orphaned_since is not None:
            log.info("sequence %s resumed by a new connection", job.id)
            job.orphaned_since = None
            self.queue.wake()

    def _new(self, kind: str, identity: bytes, request: Message, options: Options, style_id: str, style: np.ndarray) -> Job:
        job = Job(new_id(), kind, options, style_id, style, identity, request)
        self._jobs[job.id] = job
        return job

    def _get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise RequestError(UNKNOWN_JOB, f"no job {job_id!r}: it finished, was cancelled, or never existed")
        return job

    def _enqueue(self, task: Task) -> None:
        task.job.waiting += 1
        self.queue.put(task.job.identity, task)

    def _end(self, job: Job, reason: RequestError, notify: bool) -> None:
        """Stop a job from outside: at once if idle, else at the worker's next progress check."""
        job.end = reason
        if not job.running:
            self._close(job, job.event(mt.ERROR, reason.to_params()) if notify else None)

    def _close_if_complete(self, job: Job) -> None:
        if job.last and job.waiting == 0 and not job.running:
            self._close(job, job.event(mt.RESULT, {"frames": job.produced}))

    def _close(self, job: Job, final: Message | None) -> None:
        if job.closed:
            return
        job.closed = True
        del self._jobs[job.id]
        self.queue.remove(lambda task: task.job is job)
        job.held.clear()
        if final is not None:
            self._emit(job, final)

    def _emit(self, job: Job, msg: Message) -> None:
        job.last_sent = time.monotonic()
        self._send(job.identity, msg)
