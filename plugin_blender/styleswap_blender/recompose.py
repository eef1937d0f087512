"""Composite again without rendering: the recorded passes stand in for the Render Layers nodes.

Blender skips rendering when no unmuted Render Layers node is left in the compositor, so for the length
of one animation "render" each Render Layers link is re-plugged into an Image node reading that output's
recorded EXR sequence, the Render Layers nodes and the recorder are muted, and the output path points at
`<output>/composite/`. Everything is put back afterwards, whatever happens; the first render's own output
files are never written over.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import bpy

from . import compat, nodes

_active = False  # the render handlers ignore the frames of a re-composite


def active() -> bool:
    return _active


def composite_folder(tree: bpy.types.NodeTree) -> Path:
    return nodes.style_nodes(tree)[0].folder() / "composite"


def recompose(scene: bpy.types.Scene) -> Path:
    """Composite the scene's frame range from the recorded passes; returns the folder of the result."""
    tree = compat.scene_tree(scene)
    if tree is None or not nodes.style_nodes(tree):
        raise ValueError("the compositor has no Style Swap node")
    nodes.sync_tree(tree)
    folder = composite_folder(tree)
    with _from_recordings(scene, tree, folder):
        bpy.ops.render.render(animation=True, scene=scene.name)
    return folder


@contextmanager
def _from_recordings(scene: bpy.types.Scene, tree: bpy.types.NodeTree, folder: Path) -> Iterator[None]:
    global _active
    passes = Path(bpy.path.abspath(nodes.passes_folder(tree)))
    rewired = [(link.from_socket, link.to_socket) for link in tree.links if link.from_node.bl_idname == nodes.RENDER_LAYERS and not link.to_node.get(nodes.MANAGED)]
    muted = [n for n in tree.nodes if (n.bl_idname == nodes.RENDER_LAYERS or n.get(nodes.MANAGED)) and not n.mute]
    readers: dict[str, bpy.types.Node] = {}
    filepath = scene.render.filepath
    try:
        for source, target in rewired:
            slot = nodes.slot_name(source)
            if slot not in readers:
                readers[slot] = _reader(tree, passes, slot, scene.frame_start)
            tree.links.new(readers[slot].outputs["Image"], target)
        for node in muted:
            node.mute = True
        for node in nodes.style_nodes(tree):
            if (image := node.stylised_image) is not None:
                image.reload()
        scene.render.filepath = str(folder) + "/"
        _active = True
        yield
    finally:
        _active = False
        scene.render.filepath = filepath
        for node in muted:
            node.mute = False
        for source, target in rewired:
            tree.links.new(source, target)
        for reader in readers.values():
            image = reader.image
            tree.nodes.remove(reader)
            bpy.data.images.remove(image)


def _reader(tree: bpy.types.NodeTree, passes: Path, slot: str, first: int) -> bpy.types.Node:
    """An Image node playing `passes/<slot>####.exr` in step with the scene's frames."""
    recording = passes / f"{slot}{first:04d}.exr"
    if not recording.is_file():
        raise FileNotFoundError(f"no recorded pass at {recording}: render the animation once with the Style Swap node first")
    image = bpy.data.images.load(str(recording), check_existing=False)
    image.source = "SEQUENCE"
    reader = tree.nodes.new("CompositorNodeImage")
    reader.image = image
    reader.frame_start, reader.frame_offset, reader.frame_duration = nodes.FIRST_FRAME, 0, nodes.MAX_FRAMES
    return reader
