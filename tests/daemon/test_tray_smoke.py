"""Smoke run of `styleswap-backend --tray` on a virtual X display with a real system tray (trayer).

It runs where pystray is installed (`pip install -e '.[test,tray]'`; not in CI, where trayer's start-up proved
flaky under load); the X tools come from Debian's packages, installed here when missing and allowed (root with
apt-get). Otherwise it is skipped with the reason.
Set STYLESWAP_TRAY_SCREENSHOT=docs/tray.png to keep the screenshot.
"""

import importlib.util
import os
import shutil
import subprocess
import time

import numpy as np
import pytest
from PIL import Image as PILImage

from daemon_helpers import SLOW, picture, spawn, to_image
from styleswap.client import Client, wait_until_ready
from styleswap.tray import STATE_COLOURS

TOOLS = {"Xvfb": "xvfb", "trayer": "trayer", "import": "imagemagick", "xwininfo": "x11-utils"}


def _missing() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None] + ([] if importlib.util.find_spec("pystray") else ["pystray"])


@pytest.fixture(scope="module")
def x_tools() -> None:
    packages = [TOOLS[tool] for tool in _missing() if tool in TOOLS]
    if packages and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *packages], env=env, capture_output=True, timeout=900)
    if missing := _missing():
        pytest.skip(f"tray smoke test needs {', '.join(missing)} (apt-get install xvfb trayer imagemagick x11-utils; pip install pystray)")


@pytest.fixture
def display(tmp_path, x_tools):
    """A fresh Xvfb (it reports its display number once it accepts clients) with trayer docked on top."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "320x64x24", "-nolisten", "tcp"], pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as numbers:
        name = f":{numbers.readline().strip()}"
    env = {**os.environ, "DISPLAY": name}
    tray = subprocess.Popen(
        ["trayer", "--edge", "top", "--align", "right", "--widthtype", "request", "--height", "32", "--SetDockType", "true"], env=env, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_window(name, '"panel"')
        yield name
    finally:
        for process in (tray, xvfb):
            process.terminate()
            process.wait(timeout=10)


def windows(display: str) -> str:
    return subprocess.run(["xwininfo", "-root", "-tree"], env={**os.environ, "DISPLAY": display}, capture_output=True, text=True).stdout


def wait_for_window(display: str, text: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in windows(display):
        assert time.monotonic() < deadline, f"no window matching {text!r} on {display}:\n{windows(display)}"
        time.sleep(0.1)


def coloured_pixels(display: str, path, colour: tuple[int, int, int]) -> int:
    subprocess.run(["import", "-window", "root", str(path)], env={**os.environ, "DISPLAY": display}, check=True)
    pixels = np.asarray(PILImage.open(path).convert("RGB")).astype(int)
    return int((np.abs(pixels - colour).max(axis=2) <= 8).sum())


class Seen(Exception):
    pass


def test_tray_icon_shows_the_daemon_state(display, tmp_path, monkeypatch, models):
    monkeypatch.setenv("DISPLAY", display)
    monkeypatch.setenv("PYSTRAY_BACKEND", "xorg")  # trayer is an XEmbed tray, not a StatusNotifier host
    root = tmp_path / "tray"
    process = spawn(root, "--tray")
    try:
        info = wait_until_ready(root / "run" / "backend.json", timeout=90, process=process)
        wait_for_window(display, ": idle on cpu")
        assert coloured_pixels(display, tmp_path / "idle.png", STATE_COLOURS["idle"]) >= 30
        if target := os.environ.get("STYLESWAP_TRAY_SCREENSHOT"):
            shutil.copyfile(tmp_path / "idle.png", target)
        with Client(info) as client:
            busy = []

            def look_once(event):
                if not busy:
                    wait_for_window(display, ": busy on cpu, 1 job")
                    busy.append(coloured_pixels(display, tmp_path / "busy.png", STATE_COLOURS["busy"]))
                    raise Seen  # cancels the job

            with pytest.raises(Seen):
                client.stylize(to_image(picture(64, 64, 3)), to_image(picture(32, 32, 3)), SLOW, progress=look_once)
            assert busy[0] >= 30
            client.shutdown()
        assert process.wait(timeout=30) == 0
        assert "StyleSwap" not in windows(display)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
