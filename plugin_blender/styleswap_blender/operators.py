"""Operators: stylise frames already rendered, composite without rendering, cancel, start the daemon, turn on the
Vector pass."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import bpy

from styleswap_client import start_daemon
from styleswap_protocol import default_connection_path

from . import graph, recompose, render

_IMAGE_SUFFIXES = {".exr", ".png", ".tif", ".tiff", ".jpg", ".jpeg", ".webp", ".bmp", ".hdr"}


def numbered_frames(folder: Path) -> dict[int, Path]:
    """The images of a rendered sequence by frame number (the last number in each file name)."""
    found = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in _IMAGE_SUFFIXES and not path.name.startswith(".") and (numbers := re.findall(r"\d+", path.stem)):
            found[int(numbers[-1])] = path
    return found


class STYLESWAP_OT_stylize_rendered(bpy.types.Operator):
    """Stylise frames rendered earlier: the recorded pass of the scene's frame range, or a folder of images"""

    bl_idname = "styleswap.stylize_rendered"
    bl_label = "Stylise Rendered Frames"

    directory: bpy.props.StringProperty(name="Rendered Sequence", subtype="DIR_PATH", description="A folder of numbered frames; empty: the pass recorded by the last render")

    def execute(self, context: bpy.types.Context) -> set[str]:
        scene = context.scene
        try:
            job_targets = render.targets(scene)
            if not job_targets:
                raise ValueError("the compositor has no Style Swap node")
            if self.directory:
                target = dataclasses.replace(job_targets[0][0], mask_recording=None, motion_recording=None)  # a folder's frames have no recordings
                work = [(target, n, p) for n, p in numbered_frames(Path(bpy.path.abspath(self.directory))).items()]
            else:
                frames = range(scene.frame_start, scene.frame_end + 1, scene.frame_step)
                work = [(t, n, t.recorded(n)) for t, _ in job_targets for n in frames if t.recorded(n).is_file()]
            if not work:
                raise ValueError("no rendered frames found: render the animation first, or choose a folder of frames")
        except (ValueError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        job = render.start(job_targets)
        for target, frame, path in work:
            job.submit(target, frame, path)
        job.finish()
        self.report({"INFO"}, f"Style Swap: stylising {len(work)} frame(s) in the background")
        return {"FINISHED"}


class STYLESWAP_OT_composite(bpy.types.Operator):
    """Composite the frame range again from the recorded passes and the stylised frames, without rendering"""

    bl_idname = "styleswap.composite"
    bl_label = "Composite Stylised Frames"

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            folder, plain = recompose.recompose(context.scene, [target for target, _ in render.targets(context.scene)])
        except (ValueError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if plain:
            frames = "; ".join(f"{node}: {recompose.frame_spans(numbers)}" for node, numbers in plain.items())
            self.report({"WARNING"}, f"Style Swap: composited into {folder}; no stylised version of the recorded pass with the current settings, so the plain pass shows, for frame(s) {frames} (Stylise Rendered Frames makes them)")
        else:
            self.report({"INFO"}, f"Style Swap: composited into {folder}")
        return {"FINISHED"}


class STYLESWAP_OT_cancel(bpy.types.Operator):
    """Stop stylising; frames already stylised are kept and skipped next time"""

    bl_idname = "styleswap.cancel"
    bl_label = "Cancel Style Swap"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        job = render.current()
        return job is not None and job.is_alive()

    def execute(self, context: bpy.types.Context) -> set[str]:
        render.current().cancel()
        return {"FINISHED"}


class STYLESWAP_OT_start_daemon(bpy.types.Operator):
    """Start the StyleSwap daemon (styleswap-backend); it answers once its models are loaded"""

    bl_idname = "styleswap.start_daemon"
    bl_label = "Start Daemon"

    def execute(self, context: bpy.types.Context) -> set[str]:
        connection = render.connection()
        try:
            start_daemon(connection.path or default_connection_path())
        except OSError as exc:
            self.report({"ERROR"}, f"could not start the daemon ({exc}); set its command in the Style Swap add-on preferences")
            return {"CANCELLED"}
        self.report({"INFO"}, "Style Swap: starting the daemon; it is ready in a few seconds")
        return {"FINISHED"}


class STYLESWAP_OT_enable_vector_pass(bpy.types.Operator):
    """Turn on the view layer's Vector pass, which Stable Animation follows from frame to frame"""

    bl_idname = "styleswap.enable_vector_pass"
    bl_label = "Enable Vector Pass"

    def execute(self, context: bpy.types.Context) -> set[str]:
        context.view_layer.use_pass_vector = True
        graph.sync_all()  # record it from the next render on
        self.report({"INFO"}, "Style Swap: the Vector pass is on; render again for stable animation")
        return {"FINISHED"}


CLASSES = (STYLESWAP_OT_stylize_rendered, STYLESWAP_OT_composite, STYLESWAP_OT_cancel, STYLESWAP_OT_start_daemon, STYLESWAP_OT_enable_vector_pass)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
