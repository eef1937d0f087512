"""Add-on preferences: how to reach the daemon, whether to start it, and how long to wait for it."""

from __future__ import annotations

import bpy

ADDON = __package__  # "styleswap_blender" as a legacy add-on, "bl_ext.<repo>.styleswap" as an extension


class StyleSwapPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON

    connection: bpy.props.EnumProperty(
        name="Connection",
        items=[
            ("AUTO", "Automatic", "The connection file the daemon publishes in its usual place ($STYLESWAP_CONNECTION_FILE if set)"),
            ("FILE", "Connection File", "The daemon that publishes this connection file"),
        ],
    )
    connection_file: bpy.props.StringProperty(name="Connection File", subtype="FILE_PATH", description="backend.json written by styleswap-backend --connection-file")
    autostart: bpy.props.BoolProperty(name="Start the Daemon When Needed", description="Start styleswap-backend when no daemon answers (loading its models takes a few seconds)")
    backend_command: bpy.props.StringProperty(name="Daemon Command", description="Command line that starts the daemon; empty: the one of the StyleSwap install that built this add-on")
    timeout: bpy.props.FloatProperty(
        name="Reply Timeout", default=60.0, min=1.0, max=3600.0, unit="TIME_ABSOLUTE", description="Longest wait for the daemon's next message (progress keeps a long frame alive)"
    )
    start_timeout: bpy.props.FloatProperty(name="Start Timeout", default=120.0, min=5.0, max=3600.0, unit="TIME_ABSOLUTE", description="Longest wait for a started daemon to be ready")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "connection")
        if self.connection == "FILE":
            layout.prop(self, "connection_file")
        layout.prop(self, "autostart")
        layout.prop(self, "backend_command")
        layout.prop(self, "timeout")
        layout.prop(self, "start_timeout")


def preferences() -> StyleSwapPreferences:
    return bpy.context.preferences.addons[ADDON].preferences


def register() -> None:
    bpy.utils.register_class(StyleSwapPreferences)


def unregister() -> None:
    bpy.utils.unregister_class(StyleSwapPreferences)
