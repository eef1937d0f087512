"""Redraw docs/blender_nodes.png and docs/blender_frames.png from a real run of the add-on.

    python tests/blender/figures.py [--version 5.0.1]

Renders the test scene (Cycles, 4 frames) with the Style Swap node against a real daemon, composites the
stylised frames, then draws the node tree as Blender walked it (the compositor and, beside it, the inside
of the Style Swap group) and a strip of the rendered, stylised and composited frames.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "daemon")]

import bpy_env
from blender_run import Blender, frame
from daemon_helpers import launch
from styleswap.tools import install_blender

DOCS = HERE.parents[1] / "docs"
SIZE = (192, 144)
FRAMES = 4
SCALE, MARGIN, HEADER, ROW = 1.0, 30, 26, 22
BACKGROUND, BODY, TEXT, DIM, WIRE = (29, 29, 29), (48, 48, 48), (230, 230, 230), (160, 160, 160), (200, 200, 200)
HEADERS = {  # Blender's default theme, by node kind
    "CompositorNodeRLayers": (131, 39, 39),
    "CompositorNodeImage": (131, 39, 39),
    "NodeGroupInput": (131, 39, 39),
    "CompositorNodeOutputFile": (80, 40, 60),
    "CompositorNodeComposite": (80, 40, 60),
    "NodeGroupOutput": (80, 40, 60),
    "CompositorNodeStyleSwap": (40, 110, 60),
}
SOCKETS = {"RGBA": (199, 199, 41), "VALUE": (161, 161, 161), "VECTOR": (99, 99, 199)}


def font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def layout(tree: dict) -> dict[str, dict]:
    """Each node's box and socket points in Blender's coordinates (y up), as the editor draws them:
    header, outputs, inputs, then any settings."""
    boxes = {}
    for node in tree["nodes"]:
        x, y = node["location"]
        rows = len(node["outputs"]) + len(node["inputs"]) + len(node["settings"])
        height = HEADER + ROW * rows + 10
        outputs = {s["id"]: (x + node["width"], y - HEADER - ROW * (i + 0.5)) for i, s in enumerate(node["outputs"])}
        inputs = {s["id"]: (x, y - HEADER - ROW * (len(node["outputs"]) + i + 0.5)) for i, s in enumerate(node["inputs"])}
        boxes[node["name"]] = {"node": node, "box": (x, y, node["width"], height), "outputs": outputs, "inputs": inputs}
    return boxes


def draw_tree(tree: dict, title: str) -> Image.Image:
    boxes = layout(tree)
    left = min(b["box"][0] for b in boxes.values())
    top = max(b["box"][1] for b in boxes.values())
    right = max(b["box"][0] + b["box"][2] for b in boxes.values())
    bottom = min(b["box"][1] - b["box"][3] for b in boxes.values())

    def at(x: float, y: float) -> tuple[float, float]:
        return (x - left) * SCALE + MARGIN, (top - y) * SCALE + MARGIN + 30

    picture = Image.new("RGB", (int((right - left) * SCALE + 2 * MARGIN), int((top - bottom) * SCALE + 2 * MARGIN + 30)), BACKGROUND)
    pen = ImageDraw.Draw(picture)
    pen.text((MARGIN, 12), title, fill=TEXT, font=font(18))
    for source, output, target, input in tree["links"]:
        if output in boxes[source]["outputs"] and input in boxes[target]["inputs"]:
            (x0, y0), (x1, y1) = at(*boxes[source]["outputs"][output]), at(*boxes[target]["inputs"][input])
            bend = max(40.0, abs(x1 - x0) / 2)
            t = np.linspace(0, 1, 40)[:, None]
            points = (1 - t) ** 3 * [x0, y0] + 3 * (1 - t) ** 2 * t * [x0 + bend, y0] + 3 * (1 - t) * t**2 * [x1 - bend, y1] + t**3 * [x1, y1]
            pen.line([tuple(p) for p in points], fill=WIRE, width=2)
    for entry in boxes.values():
        node, (x, y, width, height) = entry["node"], entry["box"]
        x0, y0 = at(x, y)
        pen.rounded_rectangle((x0, y0, x0 + width * SCALE, y0 + height * SCALE), 6, fill=BODY, outline=(20, 20, 20))
        pen.rounded_rectangle((x0, y0, x0 + width * SCALE, y0 + HEADER), 6, fill=HEADERS.get(node["idname"], (60, 70, 110)))
        pen.text((x0 + 8, y0 + 5), node["label"], fill=TEXT, font=font(14))
        row = y0 + HEADER
        for side, sockets in (("outputs", node["outputs"]), ("inputs", node["inputs"])):
            for socket in sockets:
                sx, sy = at(*entry[side][socket["id"]])
                pen.ellipse((sx - 5, sy - 5, sx + 5, sy + 5), fill=SOCKETS.get(socket["type"], DIM), outline=(0, 0, 0))
                anchor, tx = ("rm", sx - 10) if side == "outputs" else ("lm", sx + 10)
                pen.text((tx, sy), socket["name"], fill=TEXT, font=font(13), anchor=anchor)
                row += ROW
        for key, value in node["settings"].items():
            pen.text((x0 + 10, row + ROW / 2), f"{key}: {value}", fill=DIM, font=font(12), anchor="lm")
            row += ROW
    return picture


def nodes_figure(tree: dict) -> Image.Image:
    outer = draw_tree(tree, "Compositor")
    group = next(n["group"] for n in tree["nodes"] if n["group"])
    inner = draw_tree(group, "Inside the Style Swap node")
    figure = Image.new("RGB", (outer.width + inner.width, max(outer.height, inner.height)), BACKGROUND)
    figure.paste(outer, (0, 0))
    figure.paste(inner, (outer.width, 0))
    return figure


def frames_figure(folder: Path) -> Image.Image:
    """Rows: the rendered pass, its stylised frame, the composite; one column per frame."""
    rows = [("render", folder / "render"), ("stylised", folder / "out" / "stylised"), ("composite", folder / "out" / "composite")]
    width, height = SIZE
    label = 90
    figure = Image.new("RGB", (label + FRAMES * (width + 6), len(rows) * (height + 6)), BACKGROUND)
    pen = ImageDraw.Draw(figure)
    for r, (name, path) in enumerate(rows):
        pen.text((8, r * (height + 6) + height / 2), name, fill=TEXT, font=font(14), anchor="lm")
        for f in range(FRAMES):
            pixels = frame(path / f"{f + 1:04d}.png")[..., :3].round().clip(0, 255).astype(np.uint8)
            figure.paste(Image.fromarray(pixels), (label + f * (width + 6), r * (height + 6)))
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=list(bpy_env.VERSIONS)[-1], choices=list(bpy_env.VERSIONS))
    args = parser.parse_args()
    os.environ.setdefault("STYLESWAP_MODELS", str(HERE.parents[2] / "shared" / "models"))
    root = bpy_env.default_root()
    env = bpy_env.ensure(root, args.version)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        addon = install_blender.build(work / "addon.zip", root / "wheels")
        daemon = launch(work / "daemon")
        try:
            report = Blender(env, addon, daemon.path).run(work / "scene", ["render", "composite", "tree"], size=SIZE, frames=FRAMES)
        finally:
            daemon.stop()
        nodes_figure(report["tree"]).save(DOCS / "blender_nodes.png", optimize=True)
        frames_figure(work / "scene").save(DOCS / "blender_frames.png", optimize=True)
    print(f"wrote {DOCS / 'blender_nodes.png'} and {DOCS / 'blender_frames.png'}")


if __name__ == "__main__":
    main()
