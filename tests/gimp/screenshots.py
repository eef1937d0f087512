"""Make docs/gimp_dialog.png and docs/gimp_result.png: the real GIMP 3 GUI under Xvfb, driven by xdotool.

    python tests/gimp/screenshots.py        # as root, on a machine where the GIMP tests run

Needs Xvfb, xdotool and ImageMagick's `import` on this machine (apt-get install xvfb xdotool imagemagick);
GIMP and the openbox window manager come from the trixie root (or this machine's GIMP 3). A daemon is
started for the run and stopped after it. Menu positions are relative to GIMP's window at a fixed size.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image as PILImage

from gimp_root import default_root, ensure_root
from gimp_session import DATA, STYLE, GimpHost, chroot_host, native_host
from styleswap.tools import install_gimp
from styleswap_client import connect, start_daemon, wait_until_ready

DOCS = Path(__file__).resolve().parents[2] / "docs"
BOATS = DATA / "eval" / "content" / "landscape_boats_sunset_plasma.jpg"
SCREEN = (1280, 800)
TITLE_BAR = 22  # openbox's, above GIMP's window
DISPLAY = ":73"
# Where to click, relative to GIMP's main window at SCREEN size (GIMP 3.0.4, default theme).
FILTERS_MENU = (426, 12)
ARTISTIC_ITEM = (451, 313)
STYLE_SWAP_ITEM = (704, 588)
STYLE_FILE_BUTTON = (146, 28)  # relative to the dialog
OK_BUTTON = (346, 349)


def xdotool(*args: str) -> str:
    return subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": DISPLAY}, capture_output=True, text=True, check=True).stdout.strip()


def window(name: str, timeout: float = 120) -> str:
    """The id of the first visible window whose title matches `name` (a regular expression)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", name], env={**os.environ, "DISPLAY": DISPLAY}, capture_output=True, text=True).stdout.split()
        if found:
            return found[0]
        time.sleep(0.5)
    raise TimeoutError(f"no window named {name!r} within {timeout:g} s")


def click(window_id: str, x: int, y: int, pause: float = 1.0) -> None:
    xdotool("mousemove", "--window", window_id, str(x), str(y))
    time.sleep(0.4)
    xdotool("click", "1")
    time.sleep(pause)


def screenshot(target: Path) -> None:
    xdotool("mousemove", str(SCREEN[0] - 1), str(SCREEN[1] - 1))  # no tooltips in the picture
    time.sleep(1.0)
    subprocess.run(["import", "-display", DISPLAY, "-window", "root", str(target)], check=True)
    print(f"wrote {target}")


def open_dialog(main: str) -> str:
    """Filters ▸ Artistic ▸ Style Swap… through the menus, as a user would."""
    click(main, *FILTERS_MENU)
    xdotool("mousemove", "--window", main, *map(str, ARTISTIC_ITEM))
    time.sleep(1.0)
    xdotool("mousemove", "--window", main, str(STYLE_SWAP_ITEM[0]), str(ARTISTIC_ITEM[1]))  # along the row into the submenu
    time.sleep(0.4)
    click(main, *STYLE_SWAP_ITEM)
    return window("^Style Swap$")


def choose_style(dialog: str, style_path: str) -> None:
    click(dialog, *STYLE_FILE_BUTTON)
    chooser = window("^Select a File$")
    xdotool("windowactivate", "--sync", chooser)
    xdotool("key", "ctrl+l")
    xdotool("type", "--delay", "20", style_path)
    time.sleep(0.5)
    xdotool("key", "Return")
    time.sleep(1.5)


def prepare(host: GimpHost, work: Path) -> Path:
    """Profile with the plug-in, the photo and the style; returns the profile."""
    profile = work / "profile"
    install_gimp.install(profile, python=host.python_with_zmq)
    photo = PILImage.open(BOATS).convert("RGB")
    photo.thumbnail((640, 640))
    photo.save(work / "boats.png")
    shutil.copy(STYLE, work / STYLE.name)
    return profile


def main() -> int:
    host = native_host() or chroot_host(ensure_root(default_root(), ["openbox"]))
    base = Path(tempfile.gettempdir()) if host.root is None else host.root / "tmp"
    work = Path(tempfile.mkdtemp(prefix="styleswap-shots-", dir=base))
    processes: list[subprocess.Popen] = []
    daemon = start_daemon(work / "backend.json")
    try:
        wait_until_ready(work / "backend.json", process=daemon)
        profile = prepare(host, work)
        env = {
            "DISPLAY": DISPLAY,
            "HOME": host.inside(work),
            "GIMP3_DIRECTORY": host.inside(profile),
            "STYLESWAP_CONNECTION_FILE": host.inside(work / "backend.json"),
            "GSETTINGS_BACKEND": "memory",
            "NO_AT_BRIDGE": "1",
        }
        processes.append(subprocess.Popen(["Xvfb", DISPLAY, "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"]))
        time.sleep(2)
        for argv in (["openbox"], ["gimp-3.0", host.inside(work / "boats.png")]):
            processes.append(subprocess.Popen(host.command(argv, env, ("/tmp/.X11-unix",)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        main_window = window("– GIMP$")
        xdotool("windowclose", window("^Welcome to GIMP"))  # a new profile's first start shows it
        xdotool("windowmove", main_window, "0", "0")
        xdotool("windowsize", main_window, str(SCREEN[0]), str(SCREEN[1] - TITLE_BAR))
        time.sleep(3)
        dialog = open_dialog(main_window)
        choose_style(dialog, host.inside(work / STYLE.name))
        screenshot(DOCS / "gimp_dialog.png")
        click(dialog, *OK_BUTTON)
        window(r"2 layers.*– GIMP$", timeout=300)
        screenshot(DOCS / "gimp_result.png")
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=30)
        with connect(work / "backend.json") as client:
            client.shutdown()
        daemon.wait(timeout=60)
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
