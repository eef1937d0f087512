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
import os
import shlex
import sys
import time
from pathlib import Path

import bpy
from bpy.app.handlers import persistent
from styleswap_client import BACKEND_ENV

from . import compat, frames, nodes, recompose, worker

_job: worker.Job | None = None
_targets: list[tuple[worker.Target, bpy.types.Node]] = []
_reported: worker.Job | None = None  # the job whose end was last reported
_shown = -1  # how many stylised frames the images were last reloaded for
_refusal: str | None = None  # why the last render is not stylised, for the main thread to show
_rendering: worker.Job | None = None  # the job the render in progress feeds (none during a re-composite)
_refused: list[Path] = []  # the output folders of a render not stylised: their frames are held all the same
_refused_held: list[tuple[Path, int]] = []
_TICK = 0.25
_CANCEL_WAIT = 30.0  # seconds a new job waits for a cancelled one to end (it cancels its daemon job first)
BUILD_INFO = "styleswap_build.json"  # written into the zip by `styleswap install-blender-addon`
_ENV_BACKEND = os.environ.get(BACKEND_ENV)  # the user's own setting, before the add-on sets it


def current() -> worker.Job | None:
    return _job


def targets(scene: bpy.types.Scene) -> list[tuple[worker.Target, bpy.types.Node]]:
    """The scene's Style Swap nodes as job targets; ValueError says what is missing from a node."""
    tree = compat.scene_tree(scene)
    found: list[tuple[worker.Target, bpy.types.Node]] = []
    for node in nodes.style_nodes(tree) if tree else ():
        if not node.style_image:
            raise ValueError(f"{node.name}: choose a style image")
        style = Path(bpy.path.abspath(node.style_image))
        if not style.is_file():
            raise ValueError(f"{node.name}: the style image {style} does not exist")
        if (prefix := nodes.recording(node)) is None:
            raise ValueError(f"{node.name}: link a render pass to its Image input")
        options = {"method": node.method, "patch_size": node.patch_size, "max_size": node.max_size, "preserve_color": node.preserve_color}
        folder = node.folder()
        if (other := next((t.node for t, _ in found if t.folder == folder), None)) is not None:
            raise ValueError(f"{node.name} and {other} write to the same output folder {folder}: give each node its own")
        found.append((worker.Target(node.name, style, options, folder, prefix), node))
    return found


def connection() -> worker.Connection:
    """The daemon connection the preferences describe; a backend command set there is what autostart runs."""
    from .prefs import preferences

    prefs = preferences()
    if command := prefs.backend_command.strip() or _ENV_BACKEND or _recorded_backend():
        os.environ[BACKEND_ENV] = command
    path = Path(bpy.path.abspath(prefs.connection_file)) if prefs.connection == "FILE" else None
    return worker.Connection(path, prefs.autostart, prefs.timeout, prefs.start_timeout)


def _recorded_backend() -> str | None:
    """The daemon command of the StyleSwap install that built this add-on (written by the build)."""
    try:
        return shlex.join(json.loads((Path(__file__).parent / BUILD_INFO).read_text())["backend"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def start(job_targets: list[tuple[worker.Target, bpy.types.Node]]) -> worker.Job:
    """Start a job, cancelling the previous one if it still runs (and waiting for it to put back the frames
    it held, before this one holds any)."""
    global _job, _targets
    if _job is not None and _job.is_alive():
        _job.cancel()
        _job.join(_CANCEL_WAIT)
    _job, _targets = worker.Job(connection()), job_targets
    _job.start()
    return _job


def wait(timeout: float | None = None) -> worker.Job | None:
    """Block until the current job ends (scripts and background renders), then apply its results."""
    if _job is not None:
        _job.finish()
        _job.join(timeout)
        _apply(_job)
    return _job


def _tick() -> float:
    """Registered once, on the main thread (handlers may run on the render thread, where registering a
    timer is not safe): redraw the progress while a job runs, show frames as they land, report the end."""
    global _shown, _refusal
    if _refusal is not None:
        from .ui import show_error

        show_error(f"Not stylising this render: {_refusal}")
        _refusal = None
    if _job is None or _reported is _job:
        return _TICK
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type in ("NODE_EDITOR", "IMAGE_EDITOR"):
                area.tag_redraw()
    if not _job.is_alive():
        _apply(_job)
    elif _job.counts.stylised != _shown:
        _shown = _job.counts.stylised
        _reload()
    return _TICK


def _reload() -> None:
    for _, node in _targets:
        try:
            if (image := node.stylised_image) is not None:
                image.reload()
        except ReferenceError:
            pass  # the node was deleted meanwhile


def _apply(job: worker.Job) -> None:
    """On the main thread: show the stylised frames, and say once how the job ended."""
    global _reported
    _reload()
    if _reported is job:
        return
    _reported = job
    print(f"Style Swap: {summary(job)}", file=sys.stderr)
    if job.error and not bpy.app.background:
        from .ui import show_error

        show_error(job.error)


def summary(job: worker.Job) -> str:
    c = job.counts
    parts = [f"{c.stylised} frame(s) stylised", f"{c.kept} kept from before"]
    if c.failed:
        parts.append(f"{c.failed} failed")
    if (left := c.submitted - c.stylised - c.kept - c.failed) > 0:
        parts.append(f"{left} not stylised ({'cancelled' if job.cancelled else c.stopped or 'the job ended'})")
    return ", ".join(parts) + f" in {time.monotonic() - job.started_at:.1f} s"


# -- handlers -----------------------------------------------------------------------------------------


@persistent
def _on_init(scene: bpy.types.Scene, *_: object) -> None:
    global _job, _rendering, _refusal
    _rendering, _refused[:] = None, []
    if recompose.active():  # its frames are neither held nor stylised
        return
    tree = compat.scene_tree(scene)
    if tree is None or not nodes.style_nodes(tree):
        return
    if bpy.app.background:
        nodes.sync_tree(tree)  # on the main thread here; in the UI the nodes keep it in sync as you edit
    try:
        _rendering = start(targets(scene))
    except ValueError as exc:
        _job, _refusal = None, str(exc)
        _refused[:] = _folders(tree)
        print(f"Style Swap: not stylising this render: {exc}", file=sys.stderr)


def _folders(tree: bpy.types.NodeTree) -> list[Path]:
    """The output folders of the nodes that have one (a relative one in an unsaved file has none)."""
    found = []
    for node in nodes.style_nodes(tree):
        try:
            found.append(node.folder())
        except ValueError:
            pass
    return found


@persistent
def _on_frame(scene: bpy.types.Scene, *_: object) -> None:
    frame = scene.frame_current
    if _rendering is not None:
        for target, _ in _targets:
            _rendering.hold(target, frame)
    for folder in _refused:  # a render not stylised composites its own pass all the same
        frames.hold(folder, frame)
        _refused_held.append((folder, frame))


@persistent
def _on_write(scene: bpy.types.Scene, *_: object) -> None:
    if _rendering is not None:
        frame = scene.frame_current
        for target, _ in _targets:
            _rendering.submit(target, frame, target.recorded(frame))


@persistent
def _on_done(scene: bpy.types.Scene, *_: object) -> None:
    global _rendering
    if _rendering is not None:
        _rendering.finish()
    _rendering = None
    for folder, frame in _refused_held:
        frames.restore(folder, frame)
    _refused_held.clear()


_HANDLERS = (
    (bpy.app.handlers.render_init, _on_init),
    (bpy.app.handlers.render_pre, _on_frame),
    (bpy.app.handlers.render_write, _on_write),
    (bpy.app.handlers.render_complete, _on_done),
    (bpy.app.handlers.render_cancel, _on_done),
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
    if _job is not None:
        _job.cancel()
    if bpy.app.timers.is_registered(_tick):
        bpy.app.timers.unregister(_tick)
