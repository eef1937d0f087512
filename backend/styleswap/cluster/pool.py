"""The actors of a cluster and the frames sent to them: one actor per CPU node (all its cores) or per GPU, a
bounded number of frames in flight per actor, and the frames of an actor that dies sent again to the others.

Ray schedules, places and transfers; what is ours is only which frame goes to which live actor, so that a lost
node costs its frames' time and nothing else. A frame's result is handed over once, when it arrives, so the
caller writes each output exactly once."""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import ray
from ray.exceptions import RayActorError, RayError, RayTaskError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from styleswap.cluster.actor import StylizeActor
from styleswap.engine.errors import StyleSwapError
from styleswap.engine.images import Picture
from styleswap.engine.stylize import Options, Progress, Result

K = TypeVar("K")
IN_FLIGHT = 2  # frames per actor: one running, one already transferred and waiting behind it
MAX_TRIES = 3  # a frame whose actors die this often is reported, not sent round the cluster for ever
_POLL_S = 0.5  # how often a daemon request waiting on the cluster checks whether it was cancelled


@dataclass(frozen=True)
class RemoteStyle:
    """A style picture in the object store: actors fetch it once, prepare it and keep the patches."""

    id: str
    ref: ray.ObjectRef
    nbytes: int


@dataclass
class _Actor:
    handle: Any
    label: str
    busy: int = 0


class ActorPool:
    """Actors on every live node with resources, placed there and holding them for the pool's life."""

    def __init__(self, device: str = "auto", weights: str | None = None, precision: str = "auto") -> None:
        self._lock = threading.Lock()
        self._actors: list[_Actor] = []
        self.last_error: str | None = None
        remote = ray.remote(StylizeActor)
        for node in ray.nodes():
            if not node.get("Alive"):
                continue
            resources = node.get("Resources", {})
            cpus, gpus = int(resources.get("CPU", 0)), int(resources.get("GPU", 0))
            place = NodeAffinitySchedulingStrategy(node_id=node["NodeID"], soft=False)
            host = node.get("NodeManagerAddress", "?")
            if gpus and device != "cpu":
                for i in range(gpus):
                    handle = remote.options(num_gpus=1, num_cpus=0, max_restarts=0, scheduling_strategy=place).remote(
                        device, weights, precision, max(1, cpus // gpus)
                    )
                    self._actors.append(_Actor(handle, f"{host} GPU {i}"))
            elif cpus:
                handle = remote.options(num_cpus=cpus, max_restarts=0, scheduling_strategy=place).remote(
                    "cpu" if device == "auto" else device, weights, precision, cpus
                )
                self._actors.append(_Actor(handle, f"{host} ({cpus} CPU)"))
        if not self._actors:
            raise StyleSwapError("the Ray cluster has no live node with CPUs or GPUs to run on: start a worker with `ray start --address HEAD:6379`")

    def __len__(self) -> int:
        with self._lock:
            return len(self._actors)

    def describe(self) -> list[dict]:
        """Each live actor's node, device, precision and threads (waits for them to load their models)."""
        with self._lock:
            actors = list(self._actors)
        described = []
        for actor in actors:
            try:
                described.append(ray.get(actor.handle.describe.remote()))
            except RayActorError as exc:
                self._drop(actor, exc)
        if not described:
            raise StyleSwapError(f"no Ray actor could start: {self.last_error}")
        return described

    def put_style(self, style: Picture) -> RemoteStyle:
        digest = hashlib.sha256(style.rgb.tobytes()).hexdigest()[:32]
        return RemoteStyle(digest, ray.put(style), style.rgb.nbytes)

    def map(
        self,
        frames: Iterable[tuple[K, Callable[[], Picture]]],
        style: RemoteStyle,
        options: Options,
        done: Callable[[K, Result], None],
        failed: Callable[[K, StyleSwapError], None],
        in_flight: int = IN_FLIGHT,
    ) -> None:
        """Stylise every frame, at most ``in_flight`` per actor at a time (a frame is read only when it is sent),
        calling ``done`` once per frame as results arrive, in any order. A frame the engine refuses goes to
        ``failed``; a frame whose actor dies goes to another actor."""
        waiting: deque[tuple[K, Callable[[], Picture], int]] = deque((key, load, 0) for key, load in frames)
        running: dict[ray.ObjectRef, tuple[_Actor, K, Callable[[], Picture], int]] = {}
        try:
            while waiting or running:
                for actor in self._live():
                    while waiting and actor.busy < in_flight:
                        key, load, tries = waiting.popleft()
                        try:
                            content = load()
                        except StyleSwapError as exc:  # an unreadable frame is that frame's error, not the batch's
                            failed(key, exc)
                            continue
                        running[self._submit(actor, content, style, options)] = (actor, key, load, tries)
                if not running:
                    raise StyleSwapError(f"every Ray actor is gone; the last failure: {self.last_error}")
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    actor, key, load, tries = running.pop(ref)
                    actor.busy -= 1
                    try:
                        result = ray.get(ref)
                    except RayTaskError as exc:
                        if not isinstance(exc.cause, StyleSwapError):
                            raise exc.cause from None
                        failed(key, exc.cause)
                    except RayError as exc:  # the actor or its node died, or the result was lost with it
                        if isinstance(exc, RayActorError):
                            self._drop(actor, exc)
                        if tries + 1 >= MAX_TRIES:
                            raise StyleSwapError(
                                f"a frame was lost {MAX_TRIES} times with its Ray workers; the last failure: {self.last_error or exc}"
                            ) from None
                        waiting.appendleft((key, load, tries + 1))
                    else:
                        done(key, result)
        finally:
            for ref in running:  # an interrupt or error: the frames still out are not waited for
                ray.cancel(ref)

    def stylize(self, content: Picture, style: RemoteStyle, options: Options, progress: Progress | None = None) -> Result:
        """One frame on the least busy actor, from any thread (the daemon's workers); ``progress`` is called while
        waiting and may raise to cancel, as with ``Engine.stylize``."""
        report = progress or (lambda stage, fraction, done: None)
        report("encode", 0.0, 0.0)
        for _ in range(MAX_TRIES):
            with self._lock:
                if not self._actors:
                    raise StyleSwapError(f"every Ray actor is gone; the last failure: {self.last_error}")
                actor = min(self._actors, key=lambda a: a.busy)
                ref = self._submit(actor, content, style, options)
            try:
                while not ray.wait([ref], timeout=_POLL_S)[0]:
                    report("encode", 0.0, 0.0)  # raises when the job was cancelled or timed out
                result = ray.get(ref)
            except RayTaskError as exc:
                raise exc.cause from None
            except RayError as exc:
                if isinstance(exc, RayActorError):
                    self._drop(actor, exc)
                continue
            except BaseException:
                ray.cancel(ref)
                raise
            finally:
                with self._lock:
                    actor.busy -= 1
            report("reconstruct", 1.0, 1.0)
            return result
        raise StyleSwapError(f"the frame was lost {MAX_TRIES} times with its Ray workers; the last failure: {self.last_error}")

    def close(self) -> None:
        with self._lock:
            actors, self._actors = self._actors, []
        for actor in actors:
            ray.kill(actor.handle)

    def _live(self) -> list[_Actor]:
        with self._lock:
            return list(self._actors)

    def _submit(self, actor: _Actor, content: Picture, style: RemoteStyle, options: Options) -> ray.ObjectRef:
        actor.busy += 1
        return actor.handle.stylize.remote(content, [style.ref], style.id, options)

    def _drop(self, actor: _Actor, exc: BaseException) -> None:
        with self._lock:
            if actor in self._actors:
                self._actors.remove(actor)
                self.last_error = f"{actor.label}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
