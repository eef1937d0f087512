"""`styleswap-backend --tray`: the daemon plus a status icon (idle / busy / error) and a small menu.

pystray is imported only here, only when the tray is asked for, so the daemon runs headless without it.
The menu's callbacks are the methods of `TrayActions`, plain functions of the daemon. Which of pystray's
backends draws the icon is `tray_backend`'s choice: on Linux one with a menu where the desktop has one;
pystray's xorg backend, the fallback, has no menu: there a click opens the log (the default item).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from styleswap import __version__
from styleswap.daemon.server import Daemon
from styleswap.daemon.tray_backend import load_pystray
from styleswap.engine.errors import StyleSwapError
from styleswap_protocol import ConnectionInfo

log = logging.getLogger("styleswap.daemon.tray")

STATE_COLOURS = {
    "starting": (150, 150, 150),
    "idle": (46, 160, 67),
    "busy": (33, 118, 210),
    "paused": (230, 160, 20),
    "error": (210, 40, 40),
}
_REFRESH_S = 0.5


def icon_image(state: str, size: int = 64) -> Image.Image:
    """A filled disc in the state's colour with a white ring: readable at 16 px as at 64."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((1, 1, size - 2, size - 2), fill=STATE_COLOURS[state] + (255,))
    inset = size // 4
    draw.ellipse((inset, inset, size - 1 - inset, size - 1 - inset), outline=(255, 255, 255, 255), width=max(1, size // 12))
    return image


def open_with_desktop(path: Path) -> None:
    """Open a file in the user's default application."""
    if sys.platform == "win32":
        os.startfile(path)  # type: ignore[attr-defined]  # Windows only
    else:
        subprocess.Popen(["open" if sys.platform == "darwin" else "xdg-open", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class TrayActions:
    """What each menu entry does; `open_path` is how a file is shown to the user."""

    def __init__(self, daemon: Daemon, log_file: Path, open_path: Callable[[Path], None] = open_with_desktop) -> None:
        self.daemon = daemon
        self.log_file = log_file
        self.open_path = open_path

    def status_text(self) -> str:
        daemon = self.daemon
        jobs = len(daemon.jobs)
        text = f"StyleSwap {__version__}: {daemon.state} on {daemon.worker.device}, {jobs} job{'s' if jobs != 1 else ''}"
        return f"{text} ({daemon.problem})" if daemon.problem else text

    def open_log(self) -> None:
        self.open_path(self.log_file)

    def is_paused(self) -> bool:
        return self.daemon.paused

    def toggle_pause(self) -> None:
        self.daemon.set_paused(not self.daemon.paused)

    def restart(self) -> None:
        """The daemon stops; `styleswap-backend` then starts itself again with the same arguments."""
        self.daemon.stop(restart=True)

    def quit(self) -> None:
        self.daemon.stop()


def _logged(action: Callable[[], None]) -> Callable[[], None]:
    """A callback that logs its failure instead of killing the icon's event loop (or thread)."""

    def run() -> None:
        try:
            action()
        except Exception:  # noqa: BLE001 - a failed menu action must not take the tray down
            log.exception("tray action %s failed", action.__name__)

    return run


def _menu(pystray: Any, actions: TrayActions) -> Any:
    """Status line, Pause/Resume, Restart, Open log, Quit; the texts are read each time the menu is built (`update_menu`)."""
    return pystray.Menu(
        pystray.MenuItem(lambda item: actions.status_text(), None, enabled=False),
        pystray.MenuItem(lambda item: "Resume" if actions.is_paused() else "Pause", _logged(actions.toggle_pause)),
        pystray.MenuItem("Restart", _logged(actions.restart)),
        pystray.MenuItem("Open log", _logged(actions.open_log), default=True),
        pystray.MenuItem("Quit", _logged(actions.quit)),
    )


def icon_class(pystray: Any) -> type:
    """pystray's icon for this desktop; on its xorg backend, ours (`tray_xorg`), which survives updates from our thread."""
    if pystray.Icon.__module__ != "pystray._xorg":
        return pystray.Icon
    from styleswap.daemon.tray_xorg import Icon

    return Icon


def _follow(icon: Any, actions: TrayActions) -> None:
    """pystray's setup callback: keep the picture and tooltip in step with the daemon until it stops."""
    icon.visible = True
    shown, listed = None, None
    while True:
        state, text = actions.daemon.state, actions.status_text()
        if text != listed:  # the menu's status line and Pause/Resume entry; first, so an icon's colour is never ahead of its menu
            listed = text
            icon.update_menu()
        if state != shown:
            shown = state
            icon.icon = icon_image(state)
        icon.title = text
        if actions.daemon.finished.wait(_REFRESH_S):
            break
    icon.stop()


def run_tray(daemon: Daemon, log_file: Path, on_ready: Callable[[ConnectionInfo], None]) -> None:
    """Serve with an icon until the daemon stops.

    The icon is only a view of the daemon, so except on macOS (where AppKit insists on the main thread)
    it lives in a daemon thread: a backend that fails to stop its event loop (pystray's xorg backend
    sometimes misses its own window's destruction) cannot keep the process alive.
    """
    try:
        pystray, _ = load_pystray()
    except ImportError as exc:
        raise StyleSwapError(f"cannot show a tray icon ({exc}): install pystray (pip install 'styleswap[tray]') or run without --tray") from None
    except Exception as exc:  # noqa: BLE001 - pystray's backends fail on import when they cannot reach a display
        raise StyleSwapError(f"cannot show a tray icon: no desktop to show it on ({exc}); run without --tray, or from a desktop session") from None
    actions = TrayActions(daemon, log_file)

    def show() -> None:  # the icon is made in the thread that runs it (GTK wants that)
        icon = icon_class(pystray)("styleswap", icon_image("starting"), "StyleSwap", _menu(pystray, actions))

        def follow() -> None:
            _follow(icon, actions)

        icon.run(lambda icon: _logged(follow)())

    if sys.platform != "darwin":
        threading.Thread(target=_logged(show), name="styleswap-tray", daemon=True).start()
        daemon.run(on_ready)
        return
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            daemon.run(on_ready)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread below
            failure.append(exc)

    server = threading.Thread(target=serve, name="styleswap-server")
    server.start()
    show()
    server.join()
    if failure:
        raise failure[0]
