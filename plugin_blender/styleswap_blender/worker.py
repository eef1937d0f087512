"""The background job that stylises frames: a thread that owns the daemon connection. No bpy here.

The render handlers and operators only `submit` (frame, file) pairs and read the job's counters; the
thread reads each file, skips frames already done from the same source and settings, sends the rest
to the daemon one by one as they come, and writes each stylised frame atomically. Blender's UI thread
never waits on the network.

A node with Stable Animation whose view layer has the Vector pass sends its frames as one temporal sequence with
the recorded vectors as motion: the daemon carries each frame's state to the next, and restarts the chain where a
frame does not follow the one before (frames kept from an earlier render, a render of single or reordered frames:
those are stylised as if alone). A render that was cancelled leaves its sequences open on the daemon (which
keeps one whose client went away for its orphan grace, a minute by default) and notes them in the ledger: the next
render, once past the frames kept from this one, goes on with the same chain. Without the Vector pass the node
stylises frame by frame and says so.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from styleswap_client import Client, DaemonError, Progress, connect, hostlink, motion_buffer

from . import frames


@dataclass(frozen=True)
class Connection:
    """How to reach the daemon (from the add-on preferences); `path` None means the default file."""

    path: Path | None = None
    autostart: bool = False
    timeout: float = 60.0
    start_timeout: float = 120.0


PER_FRAME, FOLLOW_VECTORS, VECTOR_OFF = "per frame", "vectors", "vector pass off"  # how a node's frames relate


@dataclass(frozen=True)
class Target:
    """One Style Swap node's work, read from its settings on the main thread."""

    node: str
    style: Path
    options: dict[str, Any]
    folder: Path  # the node's output folder
    recording: str  # the recorded pass it stylises: frame N is f"{recording}{N:04d}.exr"
    mask_recording: str | None = None  # the recorded matte wired to its Mask input, if any: the same naming
    motion_recording: str | None = None  # the recorded Vector pass its frames follow (Stable Animation), if any
    motion: str = PER_FRAME  # FOLLOW_VECTORS with a motion recording; VECTOR_OFF: Stable Animation without the pass

    def recorded(self, frame: int) -> Path:
        return Path(f"{self.recording}{frame:04d}.exr")

    def recorded_motion(self, frame: int) -> Path:
        return Path(f"{self.motion_recording}{frame:04d}.exr")

    def recorded_mask(self, frame: int) -> Path | None:
        return None if self.mask_recording is None else Path(f"{self.mask_recording}{frame:04d}.exr")

    @property
    def stylised(self) -> Path:
        return self.folder / "stylised"

    def frame_file(self, kind: str, frame: int) -> Path:
        return frames.frame_file(self.folder, kind, frame)

    def key(self, content: Any, style_hash: str, mask: Any = None) -> str:
        """What the frame's stylised version depends on: these pixels, the style file, the node's options, the mask."""
        mask_digest = None if mask is None else frames.fingerprint(mask, {})
        chained = {"temporal": True} if self.motion == FOLLOW_VECTORS else {}  # made in a chain: not a per-frame result
        return frames.fingerprint(content, {"style": style_hash, "options": self.options, **chained, **({"mask": mask_digest} if mask is not None else {})})

    def settle(self, ledger: frames.Ledger, frame: int, key: str) -> bool:
        """Leave in `stylised/` only a frame made from `key`'s source and settings (brought back from `previous/`
        when that is where it waits); a stale one is moved to `previous/`. Whether the frame is stylised."""
        stylised, previous = self.frame_file("stylised", frame), self.frame_file("previous", frame)
        if ledger.is_done(frame, key, stylised):
            return True
        if ledger.is_done(frame, key, previous):
            os.replace(previous, stylised)
            return True
        frames.hold(self.folder, frame)
        return False


class Cancelled(Exception):
    pass


@dataclass
class Counts:
    submitted: int = 0
    stylised: int = 0
    kept: int = 0  # done before, from the same source and settings: skipped
    failed: int = 0  # unreadable or refused frames
    stopped: str | None = None  # why the job ended early, when it did
    frame: int | None = None  # being stylised now
    fraction: float = 0.0  # of that frame
    errors: list[str] = field(default_factory=list)
    temporal: list[str] = field(default_factory=list)  # per node: how its frames followed each other, for the status


@dataclass
class _Chain:
    """A node's temporal sequence on the daemon while this job runs."""

    job_id: str
    settings: str  # what the frames of one chain share: the style and the options
    vectors: tuple[int, Any] | None = None  # the last frame sent and its Vector pass (its motion to the next frame)
    frames: int = 0
    restarts: list[str] = field(default_factory=list)


class Job(threading.Thread):
    """Stylise frames as they are submitted, until `finish` (then drain) or `cancel` (then stop)."""

    def __init__(self, connection: Connection, name: str = "styleswap-blender") -> None:
        super().__init__(name="styleswap-job", daemon=True)
        self.connection = connection
        self.client_name = name
        self.counts = Counts()
        self.started_at = time.monotonic()
        self._tasks: queue.Queue[tuple[Target, int, Path] | None] = queue.Queue()
        self._cancel = threading.Event()
        self._style_hashes: dict[Path, str] = {}  # read once per job: the style file is not re-read per frame
        self._styles: dict[str, str] = {}  # style hash -> the daemon's style id
        self._ledgers: dict[Path, frames.Ledger] = {}
        self._held: list[tuple[Target, int]] = []  # frames held aside for the render (render thread)
        self._submitted: set[tuple[str, int]] = set()
        self._chains: dict[str, _Chain] = {}  # node name -> its temporal sequence
        self._modes: dict[str, str] = {}  # node name -> how its frames relate (the status line)
        self._targets: dict[str, Target] = {}
        self._interrupted = False

    # -- called from Blender's main thread (or the render thread) -----------------------------------

    def hold(self, target: Target, frame: int) -> None:
        """Before the render composites `frame`: hide its stylised file until this job has checked it."""
        frames.hold(target.folder, frame)
        self._held.append((target, frame))

    def submit(self, target: Target, frame: int, source: Path) -> None:
        self.counts.submitted += 1
        self._submitted.add((target.node, frame))
        self._tasks.put((target, frame, source))

    def finish(self, interrupted: bool = False) -> None:
        """No more frames will come: stylise what was submitted, then end. `interrupted`: the render was cancelled,
        so its temporal sequences stay open for the next render to go on with."""
        self._interrupted = self._interrupted or interrupted  # a later plain `finish` (a script's `wait`) keeps it
        self._tasks.put(None)

    def cancel(self) -> None:
        self._cancel.set()
        self._tasks.put(None)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def error(self) -> str | None:
        return self.counts.errors[-1] if self.counts.errors else None

    def progress(self) -> float:
        c = self.counts
        done = c.stylised + c.kept + c.failed
        return (done + c.fraction) / c.submitted if c.submitted else 0.0

    # -- the thread ------------------------------------------------------------------------------

    def run(self) -> None:
        client: Client | None = None
        try:
            while (task := self._tasks.get()) is not None and not self.cancelled:
                target, frame, source = task
                try:
                    content, mask, key = self._prepare(target, frame, source)
                    if target.settle(self._ledger(target), frame, key):
                        self.counts.kept += 1
                        continue
                    if client is None:
                        client = connect(self.connection.path, autostart=self.connection.autostart, timeout=self.connection.timeout, start_timeout=self.connection.start_timeout, name=self.client_name)
                    self._stylize(client, target, frame, content, mask, key)
                except (OSError, ValueError) as exc:
                    self._fail(f"frame {frame}: {exc}")
        except Cancelled:
            pass
        except DaemonError as exc:
            self.counts.stopped = _advice(exc, self.connection)
            self.counts.errors.append(self.counts.stopped)
        finally:
            if client is not None:
                self._close_chains(client)
                client.close()
            for target, frame in self._held:
                if (target.node, frame) not in self._submitted:
                    frames.restore(target.folder, frame)
            self.counts.frame = None

    def _prepare(self, target: Target, frame: int, source: Path) -> tuple[Any, Any, str]:
        content = frames.read_content(source)
        mask_file = target.recorded_mask(frame)
        if mask_file is not None and not mask_file.is_file():
            raise OSError(f"no recorded mask {mask_file.name}: render the frame again, or unlink the node's Mask input")
        mask = None if mask_file is None else frames.read_mask(mask_file)
        if mask is not None and mask.shape != content.shape[:2]:
            raise ValueError(f"the mask is {mask.shape[1]}x{mask.shape[0]} but the pass is {content.shape[1]}x{content.shape[0]}")
        return content, mask, target.key(content, self._style_hash(target), mask)

    def _style_hash(self, target: Target) -> str:
        if target.style not in self._style_hashes:
            self._style_hashes[target.style] = frames.file_hash(target.style)
        return self._style_hashes[target.style]

    def _stylize(self, client: Client, target: Target, frame: int, content: Any, mask: Any, key: str) -> None:
        frames.write_png(target.frame_file("source", frame), content)  # exactly what the daemon is sent
        self.counts.frame, self.counts.fraction = frame, 0.0
        self._note(target)
        if target.motion == FOLLOW_VECTORS and mask is None and target.recorded_motion(frame).is_file():
            image = self._stylize_in_chain(client, target, frame, content)
        else:
            if target.motion == FOLLOW_VECTORS:  # the engine does not combine a mask with a chain yet
                why = "a Mask input and Stable Animation do not combine yet" if mask is not None else f"no Vector pass was recorded for frame {frame}"
                self._modes[target.node] = f"{target.node}: frame by frame, {why}"
                self.counts.temporal = list(self._modes.values())
            image = self._stylize_alone(client, target, content, mask)
        frames.write_png(target.frame_file("stylised", frame), frames.from_image(image))
        target.frame_file("previous", frame).unlink(missing_ok=True)  # made for another source or settings
        self._ledger(target).record(frame, key)
        self.counts.stylised += 1
        self.counts.fraction = 0.0

    def _stylize_alone(self, client: Client, target: Target, content: Any, mask: Any) -> Any:
        for attempt in range(2):
            try:
                mask_image = None if mask is None else frames.mask_image(mask)
                return client.stylize(frames.to_image(content), self._style_id(client, target), target.options, mask=mask_image, progress=self._on_progress).image
            except DaemonError as exc:
                if exc.code != "unknown_style" or attempt:
                    raise
                self._styles.clear()  # the daemon dropped it from its cache: upload it again
        raise AssertionError("unreachable")

    def _stylize_in_chain(self, client: Client, target: Target, frame: int, content: Any) -> Any:
        """The frame as the next of the node's temporal sequence, with its Vector pass as the motion."""
        vectors = frames.read_vectors(target.recorded_motion(frame))
        if vectors.shape[:2] != content.shape[:2]:
            raise ValueError(f"the Vector pass is {vectors.shape[1]}x{vectors.shape[0]} but the pass is {content.shape[1]}x{content.shape[0]}")
        chain = self._chains.get(target.node) or self._open_chain(client, target, frame)
        previous = chain.vectors[1] if chain.vectors is not None and chain.vectors[0] == frame - 1 else None
        motion = frames.motion_from_vectors(vectors, previous)
        height, width = content.shape[:2]
        buffers = (frames.to_image(content), motion_buffer(width, height, motion.tobytes(), forward=motion.shape[2] == 4))
        try:
            image, summary = client.send_frame(chain.job_id, frame, *buffers, progress=self._on_progress)
        except DaemonError as exc:
            if exc.code != "unknown_job" or chain.frames:
                raise
            # the sequence an interrupted render left was dropped meanwhile (the daemon restarted, or its grace ran out)
            chain.restarts.append(f"{frame} (the chain of the interrupted render was no longer held)")
            chain.job_id = self._new_sequence(client, target)
            image, summary = client.send_frame(chain.job_id, frame, *buffers, progress=self._on_progress)
        chain.vectors = (frame, vectors)
        restart = (summary.get("temporal") or {}).get("restart")
        if restart and chain.frames:
            chain.restarts.append(f"{frame} ({restart})")
        elif restart and self._ledger(target).has(frame - 1):  # frames made before lead here, but their chain is gone
            chain.restarts.append(f"{frame} (the chain of the frames before was not left open)")
        chain.frames += 1
        self._note(target)
        return image

    def _open_chain(self, client: Client, target: Target, frame: int) -> _Chain:
        """The node's chain for this job: the one an interrupted render left open when this frame follows its last,
        else a new sequence."""
        settings = frames.fingerprint(np.zeros(1), {"style": self._style_hash(target), "options": target.options})
        ledger = self._ledger(target)
        left = ledger.chain
        if left and left.get("settings") == settings and left.get("frame") == frame - 1:
            chain = _Chain(str(left["job_id"]), settings)
            recorded = target.recorded_motion(frame - 1)
            chain.vectors = (frame - 1, frames.read_vectors(recorded)) if recorded.is_file() else None
        else:
            chain = _Chain(self._new_sequence(client, target), settings)
        if left:
            ledger.keep_chain(None)  # taken up, or of no use to a render that does not follow it
        self._chains[target.node], self._targets[target.node] = chain, target
        return chain

    def _new_sequence(self, client: Client, target: Target) -> str:
        for attempt in range(2):
            try:
                return client.open_sequence(self._style_id(client, target), target.options, temporal=True)
            except DaemonError as exc:
                if exc.code != "unknown_style" or attempt:
                    raise
                self._styles.clear()  # the daemon dropped it from its cache: upload it again
        raise AssertionError("unreachable")

    def _note(self, target: Target) -> None:
        """The status line's words on how the node's frames followed each other."""
        chain = self._chains.get(target.node)
        if target.motion == VECTOR_OFF:
            self._modes[target.node] = f"{target.node}: frame by frame, the Vector pass is off (Enable Vector Pass for stable animation)"
        elif chain is not None:
            restarts = f", restarted at frame {', '.join(chain.restarts)}" if chain.restarts else ""
            self._modes[target.node] = f"{target.node}: {chain.frames} frame(s) following the Vector pass{restarts}"
        self.counts.temporal = list(self._modes.values())

    def _close_chains(self, client: Client) -> None:
        """End the job's sequences on the daemon; an interrupted render's are left open and noted for the next."""
        for node, chain in self._chains.items():
            if self._interrupted and not self.cancelled and chain.vectors is not None:
                self._ledger(self._targets[node]).keep_chain({"job_id": chain.job_id, "frame": chain.vectors[0], "settings": chain.settings})
                continue
            try:
                client.close_sequence(chain.job_id)
            except DaemonError:
                pass  # cancelled, or the daemon is gone: nothing of it is left to end

    def _style_id(self, client: Client, target: Target) -> str:
        digest = self._style_hash(target)
        if digest not in self._styles:
            self._styles[digest] = client.upload_style(frames.to_image(frames.read_content(target.style)), name=target.style.name)
        return self._styles[digest]

    def _ledger(self, target: Target) -> frames.Ledger:
        if target.stylised not in self._ledgers:
            self._ledgers[target.stylised] = frames.Ledger(target.stylised)
        return self._ledgers[target.stylised]

    def _on_progress(self, progress: Progress) -> None:
        if self.cancelled:
            raise Cancelled  # the client cancels the job on the daemon, then re-raises
        self.counts.fraction = progress.fraction

    def _fail(self, message: str) -> None:
        self.counts.failed += 1
        self.counts.errors.append(message)


def _advice(exc: DaemonError, connection: Connection) -> str:
    """A daemon failure as a sentence that says what to do; frames already written are kept."""
    start = "Check its log (styleswap-backend --help shows where)" if connection.autostart else "Start it with Style Swap > Start Daemon, or turn on autostart in the add-on preferences"
    slower = "Raise the timeout in the add-on preferences or try a smaller max size"
    return hostlink.advice(exc, start=start, slower=slower, kept="frames already stylised are kept")
