"""What the artist sees: the node's buttons, a sidebar panel with progress and actions, the Add menu entry."""

from __future__ import annotations

import textwrap

import bpy

from styleswap_protocol.options import HOST_OPTIONS

from . import graph
from .state import STATE

VECTOR_OFF = "Vector pass off: frames are stylised one by one"


def draw_node(node: bpy.types.Node, layout: bpy.types.UILayout) -> None:
    layout.prop(node, "style_image", text="")
    layout.prop(node, "render_pass")
    for option in HOST_OPTIONS:
        layout.prop(node, option.name)
    layout.prop(node, "output", text="")
    draw_motion(node, layout)
    draw_job(layout)


def draw_motion(node: bpy.types.Node, layout: bpy.types.UILayout) -> None:
    """Stable Animation, and what it follows: the Vector pass, or nothing (frame by frame) while that is off."""
    layout.prop(node, "temporal")
    if not node.temporal:
        return
    if graph.vector_socket(node) is not None:
        layout.label(text="Follows the Vector pass", icon="CHECKMARK")
    else:
        layout.label(text=VECTOR_OFF, icon="INFO")
        layout.operator("styleswap.enable_vector_pass", icon="ADD")


def draw_job(layout: bpy.types.UILayout) -> None:
    """A progress bar while stylising (with Cancel), else how the last job ended."""
    job = STATE.job
    if job is None:
        return
    if job.is_alive():
        c = job.counts
        row = layout.row(align=True)
        text = f"Frame {c.frame}: {c.stylised + c.kept}/{c.submitted}" if c.frame is not None else f"{c.stylised + c.kept}/{c.submitted} frames"
        row.progress(factor=job.progress(), type="BAR", text=text)
        row.operator("styleswap.cancel", text="", icon="CANCEL")
    elif job.error:
        layout.label(text=job.error[:80], icon="ERROR")
        layout.operator("styleswap.start_daemon", icon="PLAY")


class STYLESWAP_PT_panel(bpy.types.Panel):
    bl_label = "Style Swap"
    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Style Swap"

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return getattr(context.space_data, "tree_type", "") == "CompositorNodeTree"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        node = context.active_node
        if node is not None and node.bl_idname == graph.NODE_IDNAME:
            draw_node(node, layout)
        else:
            layout.label(text="Add > Filter > Style Swap")
            draw_job(layout)
        layout.separator()
        layout.operator("styleswap.stylize_rendered", icon="BRUSH_DATA")
        layout.operator("styleswap.composite", icon="NODE_COMPOSITING")


def show_error(message: str) -> None:
    """A popup with the whole message and the way out (start the daemon)."""

    def draw(menu: bpy.types.Menu, context: bpy.types.Context) -> None:
        for line in textwrap.wrap(message, 70):
            menu.layout.label(text=line)
        menu.layout.operator("styleswap.start_daemon", icon="PLAY")

    bpy.context.window_manager.popup_menu(draw, title="Style Swap", icon="ERROR")


def _add_menu(menu: bpy.types.Menu, context: bpy.types.Context) -> None:
    add = menu.layout.operator("node.add_node", text="Style Swap")
    add.type, add.use_transform = graph.NODE_IDNAME, True


def register() -> None:
    bpy.utils.register_class(STYLESWAP_PT_panel)
    bpy.types.NODE_MT_category_compositor_filter.append(_add_menu)


def unregister() -> None:
    bpy.types.NODE_MT_category_compositor_filter.remove(_add_menu)
    bpy.utils.unregister_class(STYLESWAP_PT_panel)
