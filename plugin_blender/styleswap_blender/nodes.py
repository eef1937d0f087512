"""The Style Swap compositor node: its settings (the stylise options every host shows, from the options
schema, plus the pass, the output folder and the style image) and its buttons. The graph it wraps and the
pass recorder are in `graph`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bpy

from styleswap_protocol.options import HOST_OPTIONS, Option

from . import graph, ui
from .graph import FIRST_FRAME, NODE_IDNAME, render_layers, schedule_sync


def option_property(option: Option) -> Any:
    """The node property of one stylise option, as the options schema describes it."""
    common = {"name": option.label, "description": option.help}
    if option.choices:
        return bpy.props.EnumProperty(items=[(c.value, c.label, c.help) for c in option.choices], default=option.default, **common)
    if option.kind is bool:
        return bpy.props.BoolProperty(default=option.default, **common)
    if option.kind is int:
        return bpy.props.IntProperty(default=option.default, min=int(option.minimum), max=int(option.maximum), **common)
    return bpy.props.FloatProperty(default=option.default, min=option.minimum, max=option.maximum, subtype="FACTOR", **common)


def engine_options(node: bpy.types.Node) -> dict[str, Any]:
    """The node's stylise options as the protocol carries them."""
    return {option.name: getattr(node, option.name) for option in HOST_OPTIONS}


class StyleSwapNode(bpy.types.CompositorNodeCustomGroup):
    """Composites the stylised version of its Image input; the daemon makes it from the recorded pass."""

    bl_idname = NODE_IDNAME
    bl_label = "Style Swap"
    bl_description = "Stylise a render pass with a style image through the local StyleSwap daemon"
    bl_width_default = 260

    style_image: bpy.props.StringProperty(name="Style Image", subtype="FILE_PATH", description="The picture whose style is applied")
    render_pass: bpy.props.EnumProperty(name="Pass", items=graph.pass_items, default=graph.pass_number("Image"), update=graph.on_pass, description="Which render pass to stylise")
    output: bpy.props.StringProperty(name="Output", subtype="DIR_PATH", default="//styleswap/", update=graph.on_output, description="Folder for the recorded passes and the stylised sequence")
    temporal: bpy.props.BoolProperty(
        name="Stable Animation",
        default=True,
        update=lambda node, context: schedule_sync(),
        description="Stylise an animation's frames in order, each following the render's Vector pass from the frame before (less flicker); needs the Vector pass",
    )

    def init(self, context: bpy.types.Context) -> None:
        self.node_tree = graph.new_group()
        self.output = graph.free_output(self)
        self.point_at_output()
        if (layers := render_layers(self)) is not None:
            self.id_data.links.new(layers.outputs["Image"], self.inputs["Image"])

    def copy(self, node: bpy.types.Node) -> None:
        self.node_tree = node.node_tree.copy()
        self.output = graph.free_output(self)
        self.point_at_output()

    def free(self) -> None:
        group = self.node_tree
        image = self.stylised_image
        if group is not None and group.users <= 1:
            bpy.data.node_groups.remove(group)
        if image is not None and image.users == 0:
            bpy.data.images.remove(image)

    def update(self) -> None:
        schedule_sync()

    def draw_buttons(self, context: bpy.types.Context, layout: bpy.types.UILayout) -> None:
        ui.draw_node(self, layout)

    @property
    def stylised_image(self) -> bpy.types.Image | None:
        reader = self.node_tree.nodes.get("Stylised") if self.node_tree else None
        return reader.image if reader else None

    def folder(self) -> Path:
        """The output folder as an absolute path (Blender paths may be relative to the .blend file)."""
        path = bpy.path.abspath(self.output)
        if not Path(path).is_absolute():
            raise ValueError(f"the output folder {self.output!r} is relative, and this file is not saved yet: save it or choose an absolute folder")
        return Path(path)

    def point_at_output(self) -> None:
        """Give the node its own image datablock reading `<output>/stylised/` as a sequence."""
        reader = self.node_tree.nodes["Stylised"]
        image = reader.image
        if image is None or image.users > 1:
            image = bpy.data.images.new(f".Style Swap {self.name}", 1, 1)
            image.source = "SEQUENCE"
            reader.image = image
        image.filepath = bpy.path.native_pathsep(self.output.rstrip("/\\") + f"/stylised/{FIRST_FRAME:04d}.png")
        image.colorspace_settings.name = "sRGB"
        image.alpha_mode = "STRAIGHT"


StyleSwapNode.__annotations__.update({option.name: option_property(option) for option in HOST_OPTIONS})


def register() -> None:
    bpy.utils.register_class(StyleSwapNode)


def unregister() -> None:
    bpy.utils.unregister_class(StyleSwapNode)
