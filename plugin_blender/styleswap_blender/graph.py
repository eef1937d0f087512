"""The compositor graph around the Style Swap nodes: the node group each one wraps, the passes it can
stylise, and the pass recorder the add-on keeps beside them.

Python cannot compute pixels in the compositor, so the node is a group of built-in nodes: an Image node
reads the stylised sequence (`<output>/stylised/####.png`) and a Mix blends it over the Image input by
Mix. Where the stylised frame is missing or transparent the input shows through, so a first render
composites the plain pass and any render after stylising composites the stylised one.

The frames the daemon gets come from a File Output node the add-on manages ("Style Swap Passes"): it
records, as scene-linear EXR, whatever feeds each Style Swap node and every Render Layers output in use.
Those recordings also let the tree be composited again without rendering (see `recompose`).
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path

import bpy
from bpy.app.handlers import persistent

from . import compat

NODE_IDNAME = "CompositorNodeStyleSwap"
RENDER_LAYERS = "CompositorNodeRLayers"
MANAGED = "styleswap_passes"  # id property marking the recorder node
FIRST_FRAME = 1  # sequence files are numbered by scene frame: frame N is ####.png with N in it
MAX_FRAMES = 1048574  # Blender's largest frame number

INPUTS_RECORDED = ("Image", "Mask")
VECTOR = "Vector"  # the Render Layers output of the Vector pass (motion to the previous and the next frame)  # the Style Swap node's inputs whose sources are recorded for the daemon
_pass_items_cache: list[tuple[str, str, str, int]] = []  # Blender needs dynamic enum strings kept alive


def pass_number(identifier: str) -> int:
    """A stable enum number per pass, so the stored choice survives passes being toggled."""
    return zlib.crc32(identifier.encode()) & 0x7FFFFFFF


def render_layers(node: bpy.types.Node) -> bpy.types.Node | None:
    """The Render Layers node feeding `node`, else the tree's first one."""
    image = node.inputs["Image"]
    if image.is_linked and image.links[0].from_node.bl_idname == RENDER_LAYERS:
        return image.links[0].from_node
    return next((n for n in node.id_data.nodes if n.bl_idname == RENDER_LAYERS), None)


def pass_items(node: bpy.types.Node, context: bpy.types.Context | None) -> list[tuple[str, str, str, int]]:
    layers = render_layers(node)
    sockets = [s for s in layers.outputs if s.type == "RGBA" and compat.socket_available(s)] if layers else []
    names = [(s.identifier, "Combined" if s.identifier == "Image" else s.name) for s in sockets] or [("Image", "Combined")]
    _pass_items_cache[:] = [(ident, name, f"Stylise the {name} pass", pass_number(ident)) for ident, name in names]
    return _pass_items_cache


def vector_socket(node: bpy.types.Node) -> bpy.types.NodeSocket | None:
    """The Vector pass of the Render Layers node feeding `node`; None while the view layer has it off."""
    layers = render_layers(node)
    socket = layers.outputs.get(VECTOR) if layers else None
    return socket if socket is not None and compat.socket_available(socket) else None


def motion_recording(node: bpy.types.Node) -> str | None:
    """The file prefix of the recorded Vector pass a Stable Animation node follows; None when it stylises frame by
    frame (the option is off, or the Vector pass is)."""
    socket = vector_socket(node) if node.temporal else None
    return None if socket is None else str(Path(bpy.path.abspath(passes_folder(node.id_data))) / slot_name(socket))


def on_pass(node: bpy.types.Node, context: bpy.types.Context | None) -> None:
    layers = render_layers(node)
    socket = next((s for s in layers.outputs if s.identifier == node.render_pass), None) if layers else None
    if socket is not None:
        node.id_data.links.new(socket, node.inputs["Image"])
    schedule_sync()


def on_output(node: bpy.types.Node, context: bpy.types.Context | None) -> None:
    node.point_at_output()
    schedule_sync()


def free_output(node: bpy.types.Node) -> str:
    """A new node's output folder: `//styleswap/`, or `//styleswap_2/` and on when another node has it, so
    that nodes never write over each other's frames (a render refuses nodes that share a folder)."""
    taken = {n.output for n in node.id_data.nodes if n != node and n.bl_idname == NODE_IDNAME}
    return next(path for i in range(1, len(taken) + 2) if (path := "//styleswap/" if i == 1 else f"//styleswap_{i}/") not in taken)


def new_group() -> bpy.types.NodeTree:
    """Group input Image and Mix; output = mix(Image, stylised, Mix where the stylised frame has alpha). Mix is a pixel
    blend over the pass; the node's Strength option (a blend of features, as in every host) is another thing."""
    group = bpy.data.node_groups.new(".Style Swap", "CompositorNodeTree")
    group.interface.new_socket("Image", in_out="INPUT", socket_type="NodeSocketColor")
    mix_in = group.interface.new_socket("Mix", in_out="INPUT", socket_type="NodeSocketFloat")
    mix_in.subtype, mix_in.min_value, mix_in.max_value, mix_in.default_value = "FACTOR", 0.0, 1.0, 1.0
    # Mask: any matte wired in (ID Mask, Cryptomatte, a painted mask, the alpha); recorded and sent with each frame, so
    # the daemon stylises the region around it and leaves the rest of the pass as it is. Unlinked: the whole frame.
    mask_in = group.interface.new_socket("Mask", in_out="INPUT", socket_type="NodeSocketFloat")
    mask_in.subtype, mask_in.min_value, mask_in.max_value, mask_in.default_value = "FACTOR", 0.0, 1.0, 1.0
    group.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    nodes, links = group.nodes, group.links
    given, result = nodes.new("NodeGroupInput"), nodes.new("NodeGroupOutput")
    reader = nodes.new("CompositorNodeImage")
    reader.name = reader.label = "Stylised"
    reader.frame_start, reader.frame_offset, reader.frame_duration = FIRST_FRAME, 0, MAX_FRAMES
    reader.use_auto_refresh = True
    present = compat.new_math(group, "GREATER_THAN")
    present.inputs[1].default_value = 0.0
    factor = compat.new_math(group, "MULTIPLY")
    mix, mix_factor, mix_a, mix_b, mix_result = compat.new_mix(group)
    links.new(reader.outputs["Alpha"], present.inputs[0])
    links.new(given.outputs["Mix"], factor.inputs[0])
    links.new(present.outputs[0], factor.inputs[1])
    links.new(factor.outputs[0], mix_factor)
    links.new(given.outputs["Image"], mix_a)
    links.new(reader.outputs["Image"], mix_b)
    links.new(mix_result, result.inputs["Image"])
    present.label, factor.label = "Stylised Here", "Mix Here"
    places = {given: (-560, 0), reader: (-560, -160), present: (-320, -200), factor: (-100, -220), mix: (140, 0), result: (380, 0)}
    for node, place in places.items():
        node.location = place
    return group


# -- the pass recorder --------------------------------------------------------------------------------

_syncing = False


def style_nodes(tree: bpy.types.NodeTree) -> list[bpy.types.Node]:
    """The tree's working Style Swap nodes (a node being created has no group and no sockets yet)."""
    return sorted((n for n in tree.nodes if n.bl_idname == NODE_IDNAME and n.node_tree is not None and not n.mute), key=lambda n: n.name)


def recorder(tree: bpy.types.NodeTree) -> bpy.types.Node | None:
    return next((n for n in tree.nodes if n.get(MANAGED)), None)


def slot_name(socket: bpy.types.NodeSocket) -> str:
    """The file prefix a recorded socket gets: `passes/<node>.<socket>_####.exr`."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", f"{socket.node.name}.{socket.identifier}") + "_"


def recorded_sockets(tree: bpy.types.NodeTree) -> dict[str, bpy.types.NodeSocket]:
    """What must be recorded: every Render Layers output in use and whatever feeds a Style Swap node."""
    managed = recorder(tree)
    wanted = {}
    for link in tree.links:
        if link.from_node.bl_idname == RENDER_LAYERS and link.to_node != managed and not link.from_node.mute:
            wanted[slot_name(link.from_socket)] = link.from_socket
    for node in style_nodes(tree):
        for name in INPUTS_RECORDED:
            socket = node.inputs.get(name)  # a node made before the Mask input has none
            if socket is not None and socket.is_linked:
                wanted[slot_name(socket.links[0].from_socket)] = socket.links[0].from_socket
        if node.temporal and (vector := vector_socket(node)) is not None:
            wanted[slot_name(vector)] = vector
    return dict(sorted(wanted.items()))


def passes_folder(tree: bpy.types.NodeTree) -> str:
    """Where the recorder writes: `passes/` in the first Style Swap node's output folder."""
    return style_nodes(tree)[0].output.rstrip("/\\") + "/passes/"


def recording(node: bpy.types.Node, name: str = "Image") -> str | None:
    """The file prefix of the recording of what feeds `node`'s input `name` (frame N: prefix + N + ".exr"); None
    when that input is not linked."""
    socket = node.inputs.get(name)
    if socket is None or not socket.is_linked:
        return None
    return str(Path(bpy.path.abspath(passes_folder(node.id_data))) / slot_name(socket.links[0].from_socket))


def schedule_sync() -> None:
    """Sync the recorders soon, from the main loop: inside a node tree update (where `Node.update` runs)
    Blender 5.0 has not yet made the sockets of new File Output items. Without a main loop (background
    mode) the render and the operators sync before they use the recordings."""
    if not bpy.app.background and not bpy.app.timers.is_registered(sync_all):
        bpy.app.timers.register(sync_all, first_interval=0.0)


def sync_all() -> None:
    for scene in bpy.data.scenes:
        if (tree := compat.scene_tree(scene)) is not None:
            sync_tree(tree)


def sync_tree(tree: bpy.types.NodeTree) -> None:
    """Make the recorder match the tree (idempotent: a tree already in sync is not touched)."""
    global _syncing
    if _syncing:
        return
    _syncing = True
    try:
        _sync(tree)
    finally:
        _syncing = False


def _sync(tree: bpy.types.NodeTree) -> None:
    managed = recorder(tree)
    if not style_nodes(tree):
        if managed is not None:
            tree.nodes.remove(managed)
        return
    wanted = recorded_sockets(tree)
    if managed is None:
        managed = compat.new_pass_writer(tree)
        managed[MANAGED] = 1
        managed.name = managed.label = "Style Swap Passes"
        anchor = next((n for n in tree.nodes if n.bl_idname == RENDER_LAYERS), None)
        managed.location = (anchor.location.x, anchor.location.y - 250) if anchor else (0, -250)
    folder = passes_folder(tree)
    compat.set_pass_writer(managed, folder, list(wanted))
    # In a file not saved yet a relative folder has no place: Blender would write the passes into its working
    # directory, for a render that is not stylised anyway (it says why). Saving the file syncs again.
    managed.mute = not Path(bpy.path.abspath(folder)).is_absolute()
    for name, source in wanted.items():
        socket = managed.inputs[name]
        if not (socket.is_linked and socket.links[0].from_socket == source):
            tree.links.new(source, socket)


@persistent
def _on_file(*_: object) -> None:
    """After a save (relative folders now have a place) and a load (a file saved with the recorder muted)."""
    sync_all()


_FILE_HANDLERS = (bpy.app.handlers.save_post, bpy.app.handlers.load_post)


def register() -> None:
    for handlers in _FILE_HANDLERS:
        handlers.append(_on_file)


def unregister() -> None:
    for handlers in _FILE_HANDLERS:
        if _on_file in handlers:
            handlers.remove(_on_file)
