"""A StatusNotifier watcher and host on the session bus: the desktop's side of an AppIndicator (KDE's panel,
GNOME's AppIndicator extension), which shows an item's menu by reading it over D-Bus (dbusmenu).

Run as a script beside the tray under test: it owns org.kde.StatusNotifierWatcher, prints
`registered SERVICE PATH` when an item registers, then answers lines on stdin:
`menu` prints the item's menu as JSON ([{"id", "label", "enabled"}, ...]); `click LABEL` sends that entry
dbusmenu's "clicked" event, as a panel does when the user clicks it, and prints `clicked ID`.
"""

import json
import sys

from gi.repository import Gio, GLib

WATCHER = """
<node>
  <interface name="org.kde.StatusNotifierWatcher">
    <method name="RegisterStatusNotifierItem"><arg type="s" direction="in"/></method>
    <method name="RegisterStatusNotifierHost"><arg type="s" direction="in"/></method>
    <property name="RegisteredStatusNotifierItems" type="as" access="read"/>
    <property name="IsStatusNotifierHostRegistered" type="b" access="read"/>
    <property name="ProtocolVersion" type="i" access="read"/>
    <signal name="StatusNotifierItemRegistered"><arg type="s"/></signal>
    <signal name="StatusNotifierHostRegistered"/>
  </interface>
</node>
"""
_CALL_MS = 30_000


class Host:
    def __init__(self, bus: Gio.DBusConnection) -> None:
        self.bus = bus
        self.items: list[str] = []
        self.item: tuple[str, str] | None = None

    def method(self, bus, sender, path, interface, method, parameters, invocation) -> None:
        if method == "RegisterStatusNotifierItem":
            (where,) = parameters.unpack()
            service, object_path = (sender, where) if where.startswith("/") else (where, "/StatusNotifierItem")
            self.item = (service, object_path)
            self.items.append(f"{service}{object_path}")
            bus.emit_signal(None, path, interface, "StatusNotifierItemRegistered", GLib.Variant("(s)", (self.items[-1],)))
            print(f"registered {service} {object_path}", flush=True)
        invocation.return_value(None)

    def get_property(self, bus, sender, path, interface, name):
        return {
            "RegisteredStatusNotifierItems": GLib.Variant("as", self.items),
            "IsStatusNotifierHostRegistered": GLib.Variant("b", True),
            "ProtocolVersion": GLib.Variant("i", 0),
        }[name]

    def menu_path(self) -> str:
        service, path = self.item
        reply = self.bus.call_sync(
            service, path, "org.freedesktop.DBus.Properties", "Get", GLib.Variant("(ss)", ("org.kde.StatusNotifierItem", "Menu")), None, 0, _CALL_MS, None
        )
        return reply.unpack()[0]

    def menu(self) -> list[dict]:
        service, _ = self.item
        reply = self.bus.call_sync(
            service, self.menu_path(), "com.canonical.dbusmenu", "GetLayout", GLib.Variant("(iias)", (0, 1, [])), None, 0, _CALL_MS, None
        )
        _, (_, _, children) = reply.unpack()
        entries = []
        for child_id, properties, _ in children:
            if properties.get("visible", True) and properties.get("type", "standard") == "standard":
                entries.append({"id": child_id, "label": properties.get("label", "").replace("_", ""), "enabled": properties.get("enabled", True)})
        return entries

    def click(self, label: str) -> int:
        service, _ = self.item
        (entry,) = [entry["id"] for entry in self.menu() if entry["label"] == label]
        self.bus.call_sync(
            service,
            self.menu_path(),
            "com.canonical.dbusmenu",
            "Event",
            GLib.Variant("(isvu)", (entry, "clicked", GLib.Variant("i", 0), 0)),
            None,
            0,
            _CALL_MS,
            None,
        )
        return entry

    def command(self, source, condition) -> bool:
        line = sys.stdin.readline()
        if not line:
            loop.quit()
            return False
        verb, _, argument = line.strip().partition(" ")
        try:
            if verb == "menu":
                print(json.dumps(self.menu()), flush=True)
            elif verb == "click":
                print(f"clicked {self.click(argument)}", flush=True)
            else:
                print(f"error unknown command {verb!r}", flush=True)
        except Exception as exc:  # noqa: BLE001 - reported to the test, which fails with it
            print(f"error {exc!r}", flush=True)
        return True


bus = Gio.bus_get_sync(Gio.BusType.SESSION, None)
host = Host(bus)
bus.register_object("/StatusNotifierWatcher", Gio.DBusNodeInfo.new_for_xml(WATCHER).interfaces[0], host.method, host.get_property, None)
loop = GLib.MainLoop()
Gio.bus_own_name_on_connection(
    bus, "org.kde.StatusNotifierWatcher", Gio.BusNameOwnerFlags.NONE, lambda *_: print("watching", flush=True), lambda *_: loop.quit()
)
GLib.io_add_watch(GLib.IOChannel.unix_new(sys.stdin.fileno()), GLib.PRIORITY_DEFAULT, GLib.IOCondition.IN | GLib.IOCondition.HUP, host.command)
loop.run()
