"""Runs inside Blender (the `bpy` module): install the add-on zip, build a small animated scene with a
Style Swap node, do what the test asks, and write what happened to a JSON file.

    python blender_scene.py '<json settings>'      # with the Python of a bpy venv; see blender_run.py

Settings: zip, install ("extension" | "legacy"), connection (the daemon's connection file), style,
out (the node's output folder), render_dir, render_pass ("combined" | "diffuse"), view ("Standard" | "AgX"),
transparent, frames, size ([width, height]; also the node's max size), pan (the camera pans right and up over a still scene), vector (the Vector pass on), preserve_color (the node's option), output (the node's output folder as the
user types it; default: `out`), user_output (a folder: a File Output
node of the user's own records the Combined pass there as float EXR), steps (in order; each of "render",
"stylize_rendered", "stylize_folder:<dir>", "stylize_folder_then_cancel:<dir>", "composite",
"composite_refused", "references", "tree", "save:<.blend path>", "prefs:<json of add-on preferences>", "style:<image>" (the node's
new style), "add_node" (a second Style Swap node, on the first one's folder, after a look at the folders new nodes get)), result (the JSON file to write).
"""

from __future__ import annotations

import json
import sys
import threading
import traceback
from pathlib import Path

import bpy

from digest import file_hashes

EXTENSION_MODULE = "bl_ext.user_default.styleswap"
LEGACY_MODULE = "styleswap_blender"
DIFFUSE = ("DiffCol", "Diffuse Color")  # the socket's name in 4.5 and in 5.0


def install(settings: dict) -> object:
    """Install and enable the add-on the way a user would, and set its preferences; returns its module."""
    import addon_utils  # Blender's own module, importable only once bpy is imported

    if settings["install"] == "extension":
        assert bpy.ops.extensions.package_install_files(filepath=settings["zip"], repo="user_default", enable_on_install=True) == {"FINISHED"}
        name = EXTENSION_MODULE
    else:
        assert bpy.ops.preferences.addon_install(filepath=settings["zip"]) == {"FINISHED"}
        addon_utils.enable(LEGACY_MODULE, default_set=True, handle_error=_raise)
        name = LEGACY_MODULE
    set_preferences(name, {"connection": "FILE", "connection_file": settings["connection"]})
    return sys.modules[name]


def set_preferences(addon: str, values: dict) -> None:
    prefs = bpy.context.preferences.addons[addon].preferences
    for key, value in values.items():
        setattr(prefs, key, value)


def _raise(exc: BaseException) -> None:
    raise exc


def build_scene(addon: object, settings: dict) -> bpy.types.Node:
    """A cube sliding past a sphere on a floor, rendered small (64x48 unless `size` says) with Cycles on
    the CPU, and the Style Swap node on the chosen pass feeding the composite output."""
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device, scene.cycles.samples, scene.cycles.use_denoising, scene.cycles.seed = "CPU", 8, False, 1
    (scene.render.resolution_x, scene.render.resolution_y), scene.render.resolution_percentage = settings.get("size", (64, 48)), 100
    scene.frame_start, scene.frame_end = 1, settings.get("frames", 3)
    scene.render.film_transparent = settings.get("transparent", False)
    scene.view_settings.view_transform = settings.get("view", "Standard")
    scene.render.filepath = settings["render_dir"] + "/"
    image = scene.render.image_settings
    image.file_format, image.color_mode, image.color_depth = "PNG", "RGBA", "16"
    world = bpy.data.worlds.new("World")
    world.color = (0.05, 0.05, 0.08)
    scene.world = world

    def material(name: str, colour: tuple[float, float, float]) -> bpy.types.Material:
        mat = bpy.data.materials.new(name)
        mat.diffuse_color = (*colour, 1.0)
        mat.use_nodes = True
        mat.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (*colour, 1.0)
        return mat

    bpy.ops.mesh.primitive_plane_add(size=8, location=(0, 0, -1))
    bpy.context.object.data.materials.append(material("Floor", (0.2, 0.5, 0.3)))
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.8, location=(0.9, 0.8, 0))
    bpy.context.object.data.materials.append(material("Sphere", (0.8, 0.3, 0.1)))
    bpy.ops.mesh.primitive_cube_add(size=1.0, location=(-1.5, 0, 0))
    cube = bpy.context.object
    cube.data.materials.append(material("Cube", (0.2, 0.3, 0.9)))
    if not settings.get("pan"):  # with a camera pan, the scene stands still
        cube.keyframe_insert("location", frame=1)
        cube.location.x = 1.5
        cube.keyframe_insert("location", frame=5)
    bpy.ops.object.camera_add(location=(0, -7, 3), rotation=(1.2, 0, 0))
    scene.camera = bpy.context.object
    if settings.get("pan"):  # the camera moves right and up at a steady pace: every pixel moves between frames
        camera = scene.camera
        camera.location.x, camera.location.z = -0.6, 2.8
        camera.keyframe_insert("location", frame=1)
        camera.location.x, camera.location.z = 0.6, 3.2
        camera.keyframe_insert("location", frame=scene.frame_end)
        for curve in _curves(camera):
            for key in curve.keyframe_points:
                key.interpolation = "LINEAR"
    scene.view_layers[0].use_pass_vector = bool(settings.get("vector"))
    bpy.ops.object.light_add(type="SUN", rotation=(0.6, 0.2, 0.4))
    bpy.context.object.data.energy = 3.0
    scene.view_layers[0].use_pass_diffuse_color = True
    if settings.get("transparent"):
        bpy.data.objects["Plane"].hide_render = True  # so part of the frame is empty: alpha 0

    tree = addon.compat.scene_tree(scene, create=True)
    for default in list(tree.nodes):  # 4.5 starts the tree with nodes of its own
        tree.nodes.remove(default)
    layers = tree.nodes.new("CompositorNodeRLayers")
    node = tree.nodes.new(addon.nodes.NODE_IDNAME)
    node.style_image = settings["style"]
    node.output = settings.get("output", settings["out"] + "/")
    node.method, node.max_size, node.patch_size = "invnet", max(settings.get("size", (64, 48))), 3
    node.preserve_color = settings.get("preserve_color", False)
    if settings.get("render_pass") == "diffuse":
        node.render_pass = next(s.identifier for s in layers.outputs if s.name in DIFFUSE)
    composite = addon.compat.composite_input(tree)
    tree.links.new(node.outputs["Image"], composite)
    if settings.get("mask") == "alpha":  # a matte any render has: the film's alpha, 0 where nothing was rendered
        tree.links.new(layers.outputs["Alpha"], node.inputs["Mask"])
    if user_output := settings.get("user_output"):
        writer = addon.compat.new_pass_writer(tree)
        writer.format.color_depth = "32"
        addon.compat.set_pass_writer(writer, user_output + "/", ["beauty_"])
        tree.links.new(layers.outputs["Image"], writer.inputs["beauty_"])
    layers.location, node.location, composite.node.location = (-350, 0), (0, 0), (380, 0)
    return node


def _curves(thing: bpy.types.Object) -> list:
    """An object's animation curves: on the action in 4.5, in its layered channelbag from 5.0."""
    action = thing.animation_data.action
    if hasattr(action, "fcurves") and len(action.fcurves):
        return list(action.fcurves)
    return [curve for layer in action.layers for strip in layer.strips for bag in strip.channelbags for curve in bag.fcurves]


def save_with_view(source: Path, target: Path, scene: bpy.types.Scene, colorspace: str) -> None:
    """Blender's own colour management as the reference: `source` decoded as `colorspace` and written
    through the scene's view transform, as a render output would be."""
    image = bpy.data.images.load(str(source), check_existing=False)
    image.colorspace_settings.name = colorspace
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save_render(str(target), scene=scene)
    bpy.data.images.remove(image)


def references(addon: object, node: bpy.types.Node, scene: bpy.types.Scene, out: Path) -> None:
    """reference/N.png: the recorded pass through the Standard view (what the daemon should be sent);
    expected/N.png: the stylised frame through the scene's own view (what the composite should be)."""
    view = scene.view_settings.view_transform
    frames = range(scene.frame_start, scene.frame_end + 1)
    scene.view_settings.view_transform = "Standard"
    for frame in frames:
        save_with_view(Path(f"{addon.graph.recording(node)}{frame:04d}.exr"), out / "reference" / f"{frame:04d}.png", scene, "Linear Rec.709")
    scene.view_settings.view_transform = view
    for frame in frames:
        save_with_view(out / "stylised" / f"{frame:04d}.png", out / "expected" / f"{frame:04d}.png", scene, "sRGB")


def render_interrupted(addon: object, scene: bpy.types.Scene, last: int) -> None:
    """A render cancelled after frame `last`, as Esc does in the UI: the frames so far are written, then Blender
    calls the render_cancel handlers instead of render_complete. A script cannot press Esc, so the frames are
    rendered with the range cut short, render_complete held back, and the add-on's cancel handler called."""
    end, complete = scene.frame_end, bpy.app.handlers.render_complete
    held = [h for h in complete if getattr(h, "__module__", "").startswith(addon.__name__)]
    for handler in held:
        complete.remove(handler)
    scene.frame_end = last
    try:
        assert bpy.ops.render.render(animation=True) == {"FINISHED"}
    finally:
        scene.frame_end = end
        complete.extend(held)
    for handler in list(bpy.app.handlers.render_cancel):
        if getattr(handler, "__module__", "").startswith(addon.__name__):
            handler(scene)


def stylize_then_cancel(addon: object, directory: str, timeout: float = 240.0) -> None:
    """Stylise a folder and press Cancel once its first frame is stylised, while the job waits for the press
    before it takes the next frame: the cancel lands after exactly one frame however fast the daemon is.

    The job's own `_stylize` runs unchanged; the wrapper only holds the job's thread after the first frame, as
    a slow frame would, so the test does not race the daemon."""
    first, pressed = threading.Event(), threading.Event()
    job_class = addon.worker.Job
    original = job_class._stylize

    def stylize_and_hold(job: object, *args: object) -> None:
        original(job, *args)
        if not first.is_set():
            first.set()
            pressed.wait(timeout)

    job_class._stylize = stylize_and_hold
    try:
        assert bpy.ops.styleswap.stylize_rendered(directory=directory) == {"FINISHED"}
        assert first.wait(timeout), f"no frame stylised within {timeout:g} s"
        assert bpy.ops.styleswap.cancel() == {"FINISHED"}
    finally:
        pressed.set()
        job_class._stylize = original


def describe_tree(tree: bpy.types.NodeTree) -> dict:
    """The node tree as drawn in the editor: nodes with their sockets and places, and the links."""

    def sockets(collection) -> list[dict]:
        return [{"id": s.identifier, "name": s.name, "type": s.type} for s in collection if s.enabled and not getattr(s, "is_unavailable", False) and s.name]

    def settings(node: bpy.types.Node) -> dict:
        if not node.bl_idname.endswith("StyleSwap"):
            return {}
        shown = {"Image": "Combined"}.get(node.render_pass, node.render_pass)
        return {"Style": Path(node.style_image).name, "Pass": shown, "Method": node.method, "Patch Size": node.patch_size, "Max Size": node.max_size, "Output": f".../{Path(node.output).name}/"}

    nodes = [
        {
            "name": n.name,
            "label": n.label or n.bl_label,
            "idname": n.bl_idname,
            "location": list(n.location),
            "width": n.width,
            "inputs": sockets(n.inputs),
            "outputs": sockets(n.outputs),
            "settings": settings(n),
            "group": describe_tree(n.node_tree) if n.bl_idname.endswith("StyleSwap") else None,
        }
        for n in tree.nodes
    ]
    links = [[link.from_node.name, link.from_socket.identifier, link.to_node.name, link.to_socket.identifier] for link in tree.links]
    return {"nodes": nodes, "links": links}


def node_properties(node) -> dict:
    """The node's own RNA properties: type, default, range and enum items, as Blender registered them."""
    found = {}
    for prop in node.bl_rna.properties:
        if prop.identifier in type(node).__annotations__:
            entry = {"type": prop.type, "name": prop.name}
            if prop.type == "ENUM":
                entry["default"], entry["items"] = prop.default, [item.identifier for item in prop.enum_items]
            elif prop.type in ("INT", "FLOAT"):
                entry["default"], entry["min"], entry["max"] = prop.default, prop.hard_min, prop.hard_max
            elif prop.type == "BOOLEAN":
                entry["default"] = prop.default
            found[prop.identifier] = entry
    return found


def main(settings: dict) -> dict:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon = install(settings)
    node = build_scene(addon, settings)
    scene = bpy.context.scene
    out, render_dir = Path(settings["out"]), Path(settings["render_dir"])
    result: dict = {"blender": bpy.app.version_string, "zmq": sys.modules["zmq"].__file__, "runs": [], "node_properties": node_properties(node)}
    try:
        for step in settings["steps"]:
            if step == "render":
                assert bpy.ops.render.render(animation=True) == {"FINISHED"}
                result["rendered"] = {"render": file_hashes(render_dir), "passes": file_hashes(out / "passes")}
                if user_output := settings.get("user_output"):
                    result["rendered"]["user"] = file_hashes(Path(user_output))
            elif step.startswith("render_interrupted:"):  # frames 1 to N rendered, then the render cancelled
                render_interrupted(addon, scene, int(step.partition(":")[2]))
            elif step == "stylize_rendered":
                assert bpy.ops.styleswap.stylize_rendered() == {"FINISHED"}
            elif step.startswith("stylize_folder:"):
                assert bpy.ops.styleswap.stylize_rendered(directory=step.partition(":")[2]) == {"FINISHED"}
            elif step.startswith("stylize_folder_then_cancel:"):
                stylize_then_cancel(addon, step.partition(":")[2])
            elif step == "composite":
                assert bpy.ops.styleswap.composite() == {"FINISHED"}
            elif step == "composite_refused":
                try:
                    bpy.ops.styleswap.composite()
                except RuntimeError as exc:  # how an operator's error report reaches a script
                    result["refused"] = str(exc)
                else:
                    raise AssertionError("the composite was not refused")
            elif step.startswith("save:"):
                assert bpy.ops.wm.save_as_mainfile(filepath=step.partition(":")[2]) == {"FINISHED"}
            elif step.startswith("style:"):
                node.style_image = step.partition(":")[2]
            elif step == "add_node":
                tree = addon.compat.scene_tree(scene)
                added, spare = tree.nodes.new(addon.nodes.NODE_IDNAME), tree.nodes.new(addon.nodes.NODE_IDNAME)
                result["added_outputs"] = [added.output, spare.output]  # the folders new nodes get
                tree.nodes.remove(spare)
                added.style_image, added.output = node.style_image, node.output
            elif step == "references":
                references(addon, node, scene, out)
            elif step.startswith("prefs:"):
                set_preferences(addon.__name__, json.loads(step.partition(":")[2]))
            elif step == "enable_vector_pass":  # the node panel's button
                assert bpy.ops.styleswap.enable_vector_pass() == {"FINISHED"}
                result["vector_pass"] = scene.view_layers[0].use_pass_vector
                result["recorded_after_button"] = sorted(s.name for s in addon.graph.recorder(addon.compat.scene_tree(scene)).inputs)
            elif step == "tree":
                result["tree"] = describe_tree(addon.compat.scene_tree(scene))
            if step.startswith("render") or step.startswith("stylize"):
                job = addon.render.wait()  # as long as it takes: the Blender run as a whole has its RUN_TIMEOUT
                c = job.counts if job else None
                result["runs"].append(
                    None
                    if c is None
                    else {"step": step, "submitted": c.submitted, "stylised": c.stylised, "kept": c.kept, "failed": c.failed, "errors": c.errors, "summary": addon.render.summary(job)}
                )
        recorder = addon.graph.recorder(addon.compat.scene_tree(scene))
        result["recorder"] = [(s.name, s.is_linked) for s in recorder.inputs] if recorder else []
    finally:
        import addon_utils

        addon_utils.disable(addon.__name__)  # removes the render handlers: bpy 4.5 hangs at exit otherwise
    return result


if __name__ == "__main__":
    config = json.loads(sys.argv[-1])
    try:
        outcome = main(config)
    except BaseException:  # noqa: BLE001 (the test reads the traceback from the result file)
        outcome = {"exception": traceback.format_exc()}
    Path(config["result"]).write_text(json.dumps(outcome, indent=1))
