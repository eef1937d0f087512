"""A virtual X display with a real system tray, and what the tray tests do on it (look, click, wait).

The X tools and GTK's system libraries are installed by .ci/run (Debian packages), PyGObject by the `test`
extra; without them the tray tests are skipped with the reason, or fail when $CI is set.
Every wait polls the display against a generous deadline that fails the test rather than hangs it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

TOOLS = {"Xvfb": "xvfb", "trayer": "trayer", "import": "imagemagick", "xwininfo": "x11-utils", "xdotool": "xdotool", "dbus-daemon": "dbus"}
_WAIT_S = 120.0


def missing_tools() -> list[str]:
    return [f"{tool} ({package})" for tool, package in TOOLS.items() if shutil.which(tool) is None] + (
        [] if importlib.util.find_spec("pystray") else ["pystray"]
    )


def missing_gtk() -> list[str]:
    """What pystray's GTK and AppIndicator icons lack here (PyGObject, typelibs), without starting GTK."""
    if importlib.util.find_spec("gi") is None:
        return ["PyGObject (pip install 'styleswap[tray-menu]')"]
    found = subprocess.run([sys.executable, "-c", _TYPELIBS], capture_output=True, text=True, timeout=120)  # gi's versions stay out of pytest
    return [line for line in found.stdout.splitlines() if line]


_TYPELIBS = """
import gi
for name, version, package in (("Gtk", "3.0", "gir1.2-gtk-3.0"), ("AyatanaAppIndicator3", "0.1", "gir1.2-ayatanaappindicator3-0.1")):
    try:
        gi.require_version(name, version)
    except ValueError:
        print(f"{name} typelib ({package})")
"""


def require(missing: list[str]) -> None:
    """Skip without these (fail on CI, where .ci/run installs them)."""
    if missing:
        message = f"the tray tests need {', '.join(missing)}: .ci/run installs them"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)


def start_xvfb(size: str) -> tuple[subprocess.Popen, str]:
    """A fresh Xvfb, once it accepts clients (it then reports its display number)."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", f"{size}x24", "-nolisten", "tcp"], pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as numbers:
        return xvfb, f":{numbers.readline().strip()}"


def start_session_bus() -> tuple[subprocess.Popen, str]:
    """A private D-Bus session bus, once it listens (it then prints its address)."""
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"], stdout=subprocess.PIPE, text=True)
    return bus, bus.stdout.readline().strip()


def start_trayer(display: str, log: Path, attempts: int = 3) -> subprocess.Popen:
    """trayer, once its panel is up. Started again if it exits first: under load it sometimes said "cannot
    open display" (2 starts in 40 beside a busy matmul) on a display that other clients reached."""
    for _ in range(attempts):
        with open(log, "a") as errors:
            tray = subprocess.Popen(
                ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request", "--height", "32", "--SetDockType", "true"],
                env={**os.environ, "DISPLAY": display},
                stderr=errors,
            )
        deadline = time.monotonic() + 30
        while tray.poll() is None and time.monotonic() < deadline:
            if '"panel"' in windows(display):
                return tray
            time.sleep(0.1)
        tray.terminate()
        tray.wait(timeout=10)
    raise AssertionError(f"trayer showed no panel on {display} in {attempts} starts:\n{log.read_text()}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=10)


def windows(display: str) -> str:
    return subprocess.run(["xwininfo", "-root", "-tree"], env={**os.environ, "DISPLAY": display}, capture_output=True, text=True).stdout


def wait_for_window(display: str, text: str, timeout: float = _WAIT_S) -> None:
    wait_until(lambda: text in windows(display), f"a window matching {text!r} on {display}", timeout, lambda: windows(display))


def wait_until(condition: Callable[[], object], what: str, timeout: float = _WAIT_S, context: Callable[[], str] = lambda: "") -> object:
    """`condition()`'s first truthy value, polled until `timeout`; then fail saying what did not happen."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout:g} s\n{context()}")
        time.sleep(0.1)
    return value


def coloured_pixels(display: str, path: Path, colour: tuple[int, int, int]) -> int:
    screenshot(display, path)
    pixels = np.asarray(PILImage.open(path).convert("RGB")).astype(int)
    return int((np.abs(pixels - colour).max(axis=2) <= 8).sum())


def screenshot(display: str, path: Path) -> None:
    subprocess.run(["import", "-window", "root", str(path)], env={**os.environ, "DISPLAY": display}, check=True)


def xdotool(display: str, *args: str) -> str:
    return subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display}, capture_output=True, text=True, timeout=60).stdout


def mapped(display: str, wm_class: str, top_level: bool) -> list[dict[str, int]]:
    """Geometry of the mapped windows of `wm_class`: top-level ones (a popup menu) or docked ones (an icon)."""
    ids = set(xdotool(display, "search", "--onlyvisible", "--class", f"^{wm_class}$").split())
    tops = set(xdotool(display, "search", "--onlyvisible", "--maxdepth", "1", "--class", f"^{wm_class}$").split())
    found = []
    for window in sorted(tops if top_level else ids - tops):
        shell = xdotool(display, "getwindowgeometry", "--shell", window)
        geometry = dict(line.split("=", 1) for line in shell.splitlines() if "=" in line)
        if {"X", "Y", "WIDTH", "HEIGHT"} <= geometry.keys():
            found.append({key: int(geometry[key]) for key in ("X", "Y", "WIDTH", "HEIGHT")})
    return found


def click(display: str, x: int, y: int, button: int) -> None:
    xdotool(display, "mousemove", "--sync", str(x), str(y), "click", str(button))
