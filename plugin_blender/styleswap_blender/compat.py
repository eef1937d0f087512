"""What differs between the supported Blenders (4.5 LTS to 5.3) in the compositor's Python API, in one place.

5.0 dropped `scene.node_tree` (a scene points at a CompositorNodeTree of its own), the Composite node
(a Group Output with an interface socket), CompositorNodeMixRGB and CompositorNodeMath (the shader Mix
and Math nodes serve), and gave the File Output node a directory, a file name and typed items. 5.1 to 5.3
changed nothing the add-on uses; their Python is 3.13 (4.5 and 5.0: 3.11), which only the bundled wheels
care about (deps.py, which must load without bpy).
"""

from __future__ import annotations

import bpy

V5 = bpy.app.version >= (5, 0, 0)
PASS_FORMAT = {"file_format": "OPEN_EXR", "color_mode": "RGBA", "color_depth": "16", "exr_codec": "ZIP"}
FILE_OUTPUT = "CompositorNodeOutputFile"  # the same in both, with different settings (new_pass_writer)


def scene_tree(scene: bpy.types.Scene, create: bool = False) -> bpy.types.NodeTree | None:
    """The scene's compositor node tree; with `create`, a new one feeding the composite output."""
    if V5:
        if scene.compositing_node_group is None and create:
            tree = bpy.data.node_groups.new(f"{scene.name} Compositing", "CompositorNodeTree")
            tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
            scene.compositing_node_group = tree
        return scene.compositing_node_group
    if create and not scene.use_nodes:
        scene.use_nodes = True
    return scene.node_tree if scene.use_nodes else None


def composite_input(tree: bpy.types.NodeTree) -> bpy.types.NodeSocket:
    """The socket whose image becomes the render result, made if the tree has none."""
    kind = "NodeGroupOutput" if V5 else "CompositorNodeComposite"
    node = next((n for n in tree.nodes if n.bl_idname == kind), None) or tree.nodes.new(kind)
    return node.inputs[0]


def new_mix(tree: bpy.types.NodeTree) -> tuple[bpy.types.Node, bpy.types.NodeSocket, bpy.types.NodeSocket, bpy.types.NodeSocket, bpy.types.NodeSocket]:
    """A colour mix node and its (factor, A, B, result) sockets."""
    if V5:
        node = tree.nodes.new("ShaderNodeMix")
        node.data_type = "RGBA"
        inputs = {s.identifier: s for s in node.inputs}
        result = next(s for s in node.outputs if s.identifier == "Result_Color")
        return node, inputs["Factor_Float"], inputs["A_Color"], inputs["B_Color"], result
    node = tree.nodes.new("CompositorNodeMixRGB")
    return node, node.inputs[0], node.inputs[1], node.inputs[2], node.outputs[0]


def new_math(tree: bpy.types.NodeTree, operation: str) -> bpy.types.Node:
    node = tree.nodes.new("ShaderNodeMath" if V5 else "CompositorNodeMath")
    node.operation = operation
    return node


def new_pass_writer(tree: bpy.types.NodeTree) -> bpy.types.Node:
    """A File Output node writing one single-layer EXR per input (scene-linear, half float)."""
    node = tree.nodes.new(FILE_OUTPUT)
    if V5:
        node.format.media_type = "IMAGE"
        node.file_output_items.clear()
    else:
        node.file_slots.clear()
    for key, value in PASS_FORMAT.items():
        setattr(node.format, key, value)
    return node


def set_pass_writer(node: bpy.types.Node, folder: str, prefixes: list[str]) -> None:
    """Point the writer at `folder`, one input per prefix: input i writes `folder/<prefix i><frame>.exr`."""
    if V5:
        node.directory, node.file_name = folder, ""
        items = node.file_output_items
        if [item.name for item in items] != prefixes:
            items.clear()
            for prefix in prefixes:
                items.new("RGBA", prefix)
    else:
        node.base_path = folder
        slots = node.file_slots
        if [slot.path for slot in slots] != prefixes:
            slots.clear()
            for prefix in prefixes:
                slots.new(prefix)


def socket_available(socket: bpy.types.NodeSocket) -> bool:
    return socket.enabled and not getattr(socket, "is_unavailable", False)
