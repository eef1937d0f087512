"""Style Swap for Blender: a compositor node that stylises rendered frames through the local StyleSwap daemon.

For Blender 4.5 LTS to 5.3. Installed as an extension (pyzmq comes from the bundled wheels) or as a legacy add-on (the
matching wheel is unpacked on first use). The daemon does the work; Blender's Python only moves pixels.
"""

bl_info = {  # read only when installed as a legacy add-on; extensions use blender_manifest.toml
    "name": "Style Swap",
    "author": "StyleSwap",
    "version": (0, 1, 0),
    "blender": (4, 5, 0),
    "location": "Compositor > Add > Filter > Style Swap; sidebar > Style Swap",
    "description": "Stylise renders with any style image, through the local StyleSwap daemon",
    "category": "Compositing",
}

from . import deps

deps.ensure()

from . import graph, nodes, operators, prefs, render, ui

_MODULES = (prefs, graph, nodes, operators, ui, render)


def register() -> None:
    for module in _MODULES:
        module.register()


def unregister() -> None:
    for module in reversed(_MODULES):
        module.unregister()
