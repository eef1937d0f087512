"""Which of pystray's backends shows the tray icon: chosen once per process, logged, overridable.

On Linux pystray's xorg backend has no menu (a click can run one action only). AppIndicator (GNOME with its
AppIndicator extension, KDE, and any XEmbed tray through libayatana-appindicator's own GtkStatusIcon fallback)
and GTK (a GtkStatusIcon, in any XEmbed tray) show the real menu. Both need PyGObject (`styleswap[tray-menu]`),
the system's GTK 3 typelib (AppIndicator also its own), a display GTK can open and a D-Bus session bus (pystray's
GTK icons connect their notifier to it as they start and die without one). Each is probed in that order and
xorg is the fallback; `PYSTRAY_BACKEND=appindicator|gtk|xorg` skips the probing.
"""

from __future__ import annotations

import logging
import os
import sys
from types import ModuleType

log = logging.getLogger("styleswap.daemon.tray")

MENU_BACKENDS = ("appindicator", "gtk")
_INDICATORS = ("AppIndicator3", "AyatanaAppIndicator3")  # pystray's _appindicator takes the first it finds


def probe_gtk(indicator: bool) -> None:
    """Raise ImportError saying what is missing for pystray's GTK icons (with `indicator`, its AppIndicator one)."""
    try:
        import gi
    except ImportError:
        raise ImportError("PyGObject is not installed (pip install 'styleswap[tray-menu]')") from None
    try:
        gi.require_version("Gtk", "3.0")
    except ValueError:
        raise ImportError("no GTK 3 typelib (Debian: gir1.2-gtk-3.0)") from None
    if indicator and not any(_has_typelib(gi, name) for name in _INDICATORS):
        raise ImportError("no AppIndicator typelib (Debian: gir1.2-ayatanaappindicator3-0.1)")
    from gi.repository import Gio, GLib, Gtk

    if not Gtk.init_check()[0]:
        raise ImportError("GTK cannot open the display")
    try:
        Gio.bus_get_sync(Gio.BusType.SESSION, None)
    except GLib.Error as exc:
        raise ImportError(f"no D-Bus session bus ({exc.message})") from None


def _has_typelib(gi: ModuleType, name: str) -> bool:
    try:
        gi.require_version(name, "0.1")
    except ValueError:
        return False
    return True


def _name_windows() -> None:
    """Before GTK starts, if it may: its icon's and menu's windows are then of class "styleswap", not the script's name."""
    try:
        from gi.repository import GLib
    except ImportError:
        return
    GLib.set_prgname("styleswap")


def choose(platform: str = sys.platform) -> tuple[str | None, str]:
    """The backend to load (None: pystray's own choice) and why."""
    if asked := os.environ.get("PYSTRAY_BACKEND"):
        return asked, "PYSTRAY_BACKEND"
    if not platform.startswith("linux"):
        return None, f"pystray's only backend for {platform}"
    skipped = []
    for name in MENU_BACKENDS:
        try:
            probe_gtk(indicator=name == "appindicator")
        except ImportError as exc:
            skipped.append(f"{name}: {exc}")
            continue
        return name, "; ".join(["the first with a menu that works here", *skipped])
    return "xorg", "; ".join(["no menu: a click opens the log", *skipped])


def load_pystray() -> tuple[ModuleType, str]:
    """pystray with the chosen backend, and that backend's name; the choice is logged.

    PYSTRAY_BACKEND is set only for the import (pystray reads it then), so a restarted daemon chooses afresh.
    ImportError, or the backend's own error when it cannot reach a display, passes to the caller.
    """
    _name_windows()
    name, why = choose()
    before = os.environ.get("PYSTRAY_BACKEND")
    if name is not None:
        os.environ["PYSTRAY_BACKEND"] = name
    try:
        import pystray
    except Exception:
        log.warning("tray backend: %s (%s) cannot start", name or "pystray's default", why)
        raise
    finally:
        if before is None:
            os.environ.pop("PYSTRAY_BACKEND", None)
    loaded = pystray.Icon.__module__.removeprefix("pystray._")
    (log.warning if loaded not in MENU_BACKENDS and sys.platform.startswith("linux") else log.info)("tray backend: %s (%s)", loaded, why)
    return pystray, loaded
