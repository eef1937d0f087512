"""Render hooks: every frame Blender writes is handed to the background job as soon as it is on disk.

`render_write` fires after each frame is written, compositing included, so the recorder's EXR for that
frame exists; the handler only queues (frame, file) pairs, because it may run on the render thread and
must neither block nor touch bpy.data. The Style Swap nodes' settings are read once, at `render_init`.
Before each frame (`render_pre`) its stylised file is moved aside: it was made from an earlier render, and
this one may differ (animation, lighting, size), so a render always composites its own pass; the job puts
the file back once the new pass proves the same, and *Composite Stylised Frames* shows the stylised ones.
A timer on the main thread shows the job's progress, reloads the stylised sequences and reports how it
ended; in background mode (no timers) `wait` does the same.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import bpy
from bpy.app.handlers import persistent

from styleswap_client import hostlink

from . import compat, frames, graph, nodes, recompose, worker
from .state import STATE
from .ui import show_error

_TICK = 0.25
_CANCEL_WAIT = 30.0  # seconds a new job waits for a cancelled one to end (it cancels its daemon job first)
BUILD_INFO = "styleswap_build.json"  # written into the zip by `styleswap install-blender-addon`


def current() -> worker.Job | None:
    return STATE.job


def targets(scene: bpy.types.Scene) -> list[tuple[worker.Target, bpy.types.Node]]:
    """The scene's Style Swap nodes as job targets; ValueError says what is missing from a node."""
    tree = compat.scene_tree(scene)
    found: list[tuple[worker.Target, bpy.types.Node]] = []
    for node in graph.style_nodes(tree) if tree else ():
        if not node.style_image:
            raise ValueError(f"{node.name}: choose a style image")
        style = Path(bpy.path.abspath(node.style_image))
        if not style.is_file():
            raise ValueError(f"{node.name}: the style image {style} does not exist")
        if (prefix := graph.recording(node)) is None:
            raise ValueError(f"{node.name}: link a render pass to its Image input")
        options = nodes.engine_options(node)
        folder = node.folder()
        if (other := next((t.node for t, _ in found if t.folder == folder), None)) is not None:
            raise ValueError(f"{node.name} and {other} write to the same output folder {folder}: give each node its own")
        motion = graph.motion_recording(node)
        mode = worker.FOLLOW_VECTORS if motion else worker.VECTOR_OFF if node.temporal else worker.PER_FRAME
        found.append((worker.Target(node.name, style, options, folder, prefix, graph.recording(node, "Mask"), motion, mode), node))
    return found


def connection() -> worker.Connection:
    """The daemon connection the preferences describe; a backend command set there is what autostart runs."""
    from .prefs import preferences

    prefs = preferences()
    hostlink.use_backend(prefs.backend_command, _recorded_backend())
    path = Path(bpy.path.abspath(prefs.connection_file)) if prefs.connection == "FILE" else None
    return worker.Connection(path, prefs.autostart, prefs.timeout, prefs.start_timeout)


def _recorded_backend() -> list[str] | None:
    """The daemon command of the StyleSwap install that built this add-on (written by the build)."""
    try:
        return json.loads((Path(__file__).parent / BUILD_INFO).read_text())["backend"]
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def start(job_targets: list[tuple[worker.Target, bpy.types.Node]]) -> worker.Job:
    """Start a job, cancelling the previous one if it still runs (and waiting for it to put back the frames
    it held, before this one holds any)."""
    if STATE.job is not None and STATE.job.is_alive():
        STATE.job.cancel()
        STATE.job.join(_CANCEL_WAIT)
    STATE.job, STATE.targets = worker.Job(connection()), job_targets
    STATE.job.start()
    return STATE.job


def wait(timeout: float | None = None) -> worker.Job | None:
    """Block until the current job ends (scripts and background renders), then apply its results."""
    if STATE.job is not None:
        STATE.job.finish()
        STATE.job.join(timeout)
        _apply(STATE.job)
    return STATE.job


def _tick() -> float:
    """Registered once, on the main thread (handlers may run on the render thread, where registering a
    timer is not safe): redraw the progress while a job runs, show frames as they land, report the end."""
    if STATE.refusal is not None:
        show_error(f"Not stylising this render: {STATE.refusal}")
        STATE.refusal = None
    if STATE.job is None or STATE.reported is STATE.job:
        return _TICK
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in ("NODE_EDITOR", "IMAGE_EDITOR"):
                area.tag_redraw()
    if not STATE.job.is_alive():
        _apply(STATE.job)
    elif STATE.job.counts.stylised != STATE.shown:
        STATE.shown = STATE.job.counts.stylised
        _reload()
    return _TICK


def _reload() -> None:
    for _, node in STATE.targets:
        try:
            if (image := node.stylised_image) is not None:
                image.reload()
        except ReferenceError:
            pass  # the node was deleted meanwhile


def _apply(job: worker.Job) -> None:
    """On the main thread: show the stylised frames, and say once how the job ended."""
    _reload()
    if STATE.reported is job:
        return
    STATE.reported = job
    print(f"Style Swap: {summary(job)}", file=sys.stderr)
    if job.error and not bpy.app.background:
        show_error(job.error)


def summary(job: worker.Job) -> str:
    c = job.counts
    parts = [f"{c.stylised} frame(s) stylised", f"{c.kept} kept from before"]
    if c.failed:
        parts.append(f"{c.failed} failed")
    if (left := c.submitted - c.stylised - c.kept - c.failed) > 0:
        parts.append(f"{left} not stylised ({'cancelled' if job.cancelled else c.stopped or 'the job ended'})")
    parts.extend(c.temporal)
    return ", ".join(parts) + f" in {time.monotonic() - job.started_at:.1f} s"


# -- handlers -----------------------------------------------------------------------------------------


@persistent
def _on_init(scene: bpy.types.Scene, *_: object) -> None:
    STATE.rendering, STATE.refused[:] = None, []
    if recompose.active():  # its frames are neither held nor stylised
        return
    tree = compat.scene_tree(scene)
    if tree is None or not graph.style_nodes(tree):
        return
    if bpy.app.background:
        graph.sync_tree(tree)  # on the main thread here; in the UI the nodes keep it in sync as you edit
    try:
        STATE.rendering = start(targets(scene))
    except ValueError as exc:
        STATE.job, STATE.refusal = None, str(exc)
        STATE.refused[:] = _folders(tree)
        print(f"Style Swap: not stylising this render: {exc}", file=sys.stderr)


def _folders(tree: bpy.types.NodeTree) -> list[Path]:
    """The output folders of the nodes that have one (a relative one in an unsaved file has none)."""
    found = []
    for node in graph.style_nodes(tree):
        try:
            found.append(node.folder())
        except ValueError:
            pass
    return found


@persistent
def _on_frame(scene: bpy.types.Scene, *_: object) -> None:
    frame = scene.frame_current
    if STATE.rendering is not None:
        for target, _ in STATE.targets:
            STATE.rendering.hold(target, frame)
    for folder in STATE.refused:  # a render not stylised composites its own pass all the same
        frames.hold(folder, frame)
        STATE.refused_held.append((folder, frame))


@persistent
def _on_write(scene: bpy.types.Scene, *_: object) -> None:
    if STATE.rendering is not None:
        frame = scene.frame_current
        for target, _ in STATE.targets:
            STATE.rendering.submit(target, frame, target.recorded(frame))


@persistent
def _on_done(scene: bpy.types.Scene, *_: object) -> None:
    _end_render(interrupted=False)


@persistent
def _on_cancel(scene: bpy.types.Scene, *_: object) -> None:
    """The render was cancelled: what it made is stylised, and a temporal chain stays open for the next render."""
    _end_render(interrupted=True)


def _end_render(interrupted: bool) -> None:
    if STATE.rendering is not None:
        STATE.rendering.finish(interrupted)
    STATE.rendering = None
    for folder, frame in STATE.refused_held:
        frames.restore(folder, frame)
    STATE.refused_held.clear()


_HANDLERS = (
    (bpy.app.handlers.render_init, _on_init),
    (bpy.app.handlers.render_pre, _on_frame),
    (bpy.app.handlers.render_write, _on_write),
    (bpy.app.handlers.render_complete, _on_done),
    (bpy.app.handlers.render_cancel, _on_cancel),
)


def register() -> None:
    for handlers, function in _HANDLERS:
        if function not in handlers:
            handlers.append(function)
    if not bpy.app.background:
        bpy.app.timers.register(_tick, first_interval=_TICK, persistent=True)


def unregister() -> None:
    """Also needed before a script exits: bpy 4.5 hangs at exit with a render_write handler registered."""
    for handlers, function in _HANDLERS:
        if function in handlers:
            handlers.remove(function)
    if STATE.job is not None:
        STATE.job.cancel()
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
