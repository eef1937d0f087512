"""Composite again without rendering: the recorded passes stand in for the Render Layers nodes.

Blender skips rendering when no unmuted Render Layers node is left in the compositor, so for the length
of one animation "render" each Render Layers link is re-plugged into an Image node reading that output's
recorded EXR sequence, the Render Layers nodes and every File Output node (the recorder's and the user's)
are muted, and the output path points at `<output>/composite/`. Everything is put back afterwards, whatever
happens; the render's own output files are never written over.

Only stylised frames made from the recorded pass with the node's current settings are composited: others
(the style changed since, say) are moved to `previous/` first, and those frames show the plain pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import bpy

from . import compat, frames, graph, worker

_active = False  # the render handlers ignore the frames of a re-composite


def active() -> bool:
    return _active


def composite_folder(tree: bpy.types.NodeTree) -> Path:
    return graph.style_nodes(tree)[0].folder() / "composite"


def recompose(scene: bpy.types.Scene, targets: list[worker.Target]) -> tuple[Path, dict[str, list[int]]]:
    """Composite the scene's frame range from the recorded passes; returns the folder of the result and, by
    node, the frames that had no stylised version of their recorded pass with the node's settings."""
    tree = compat.scene_tree(scene)
    if tree is None or not targets:
        raise ValueError("the compositor has no Style Swap node")
    graph.sync_tree(tree)
    folder = composite_folder(tree)
    numbers = range(scene.frame_start, scene.frame_end + 1, scene.frame_step)
    passes = Path(bpy.path.abspath(graph.passes_folder(tree)))
    if missing := sorted({n for source, _ in _rewired(tree) for n in numbers if not (passes / f"{graph.slot_name(source)}{n:04d}.exr").is_file()}):
        raise FileNotFoundError(f"no recorded pass of frame(s) {frame_spans(missing)} in {passes}: render the animation with the Style Swap node first")
    plain = {target.node: _unstylised(target, numbers) for target in targets}
    with _from_recordings(scene, tree, folder):
        bpy.ops.render.render(animation=True, scene=scene.name)
    return folder, {node: missing for node, missing in plain.items() if missing}


def _unstylised(target: worker.Target, numbers: range) -> list[int]:
    """The frames without a stylised version of their recorded pass and these settings (stale ones moved aside)."""
    ledger, style = frames.Ledger(target.stylised), frames.file_hash(target.style)
    return [n for n in numbers if not target.settle(ledger, n, target.key(frames.read_content(target.recorded(n)), style))]


def frame_spans(numbers: list[int]) -> str:
    """1, 2, 3, 7 as "1-3, 7"."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in spans)


def _rewired(tree: bpy.types.NodeTree) -> list[tuple[bpy.types.NodeSocket, bpy.types.NodeSocket]]:
    """The links from Render Layers outputs that recorded passes stand in for (all but the recorder's)."""
    return [(link.from_socket, link.to_socket) for link in tree.links if link.from_node.bl_idname == graph.RENDER_LAYERS and not link.to_node.get(graph.MANAGED)]


@contextmanager
def _from_recordings(scene: bpy.types.Scene, tree: bpy.types.NodeTree, folder: Path) -> Iterator[None]:
    global _active
    passes = Path(bpy.path.abspath(graph.passes_folder(tree)))
    rewired = _rewired(tree)
    muted = [n for n in tree.nodes if n.bl_idname in (graph.RENDER_LAYERS, compat.FILE_OUTPUT) and not n.mute]
    readers: dict[str, bpy.types.Node] = {}
    filepath = scene.render.filepath
    try:
        for source, target in rewired:
            slot = graph.slot_name(source)
            if slot not in readers:
                readers[slot] = _reader(tree, passes, slot, scene.frame_start)
            tree.links.new(readers[slot].outputs["Image"], target)
        for node in muted:
            node.mute = True
        for node in graph.style_nodes(tree):
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
    image = bpy.data.images.load(str(passes / f"{slot}{first:04d}.exr"), check_existing=False)
    image.source = "SEQUENCE"
    reader = tree.nodes.new("CompositorNodeImage")
    reader.image = image
    reader.frame_start, reader.frame_offset, reader.frame_duration = graph.FIRST_FRAME, 0, graph.MAX_FRAMES
    return reader
