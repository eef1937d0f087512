"""The tray menu, clicked: `styleswap-backend --tray` on a virtual X display, with a private session bus.

On an XEmbed tray (trayer): pystray's GTK backend docks a GtkStatusIcon in it, and its AppIndicator backend,
finding no StatusNotifier host on the session bus, docks libayatana-appindicator's own GtkStatusIcon. xdotool
clicks the icon, waits for the GTK menu's window, and clicks an entry. On a StatusNotifier desktop (KDE, GNOME's
AppIndicator extension; here sni_host.py stands for the panel) the item registers over D-Bus and the host reads
and clicks its menu with dbusmenu calls. Each time the test then waits for the entry's effect: the daemon's state
in hello's reply, the opened file, a second start of the process, its exit.
Set STYLESWAP_TRAY_MENU_SCREENSHOT=docs/tray-menu.png to keep a screenshot of the open menu.
"""

import importlib.metadata
import json
import os
import queue
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from daemon_helpers import spawn
from styleswap_client import Client, wait_until_ready
from tray_display import (
    click,
    coloured_pixels,
    mapped,
    missing_gtk,
    require,
    screenshot,
    start_session_bus,
    start_trayer,
    start_xvfb,
    stop,
    wait_until,
    windows,
)

IDLE_GREEN = (46, 160, 67)  # docs/daemon.md: green idle
ENTRIES = 5  # status line, Pause/Resume, Restart, Open log, Quit: written out in the test, not read from the code


@pytest.fixture(scope="module")
def gtk_libraries(x_tools) -> None:
    require(missing_gtk())


@pytest.fixture
def menu_display(x_tools, tmp_path):
    """A fresh Xvfb tall enough for the menu, with trayer (an XEmbed system tray) docked on top."""
    xvfb, name = start_xvfb("320x200")
    try:
        tray = start_trayer(name, tmp_path / "trayer.txt")
        yield name
        stop(tray)
    finally:
        stop(xvfb)


@pytest.fixture
def session_bus(gtk_libraries):
    bus, address = start_session_bus()
    yield address
    stop(bus)


@pytest.fixture
def opener(tmp_path, monkeypatch):
    """An `xdg-open` first on PATH that notes what it was asked to open (the desktop's viewer is not under test)."""
    folder, noted = tmp_path / "bin", tmp_path / "opened.txt"
    folder.mkdir()
    script = folder / "xdg-open"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> "{noted}"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return noted


def icon(display: str) -> dict[str, int]:
    return wait_until(lambda: mapped(display, "styleswap", top_level=False), f"tray icon docked on {display}", context=lambda: windows(display))[0]


def open_menu(display: str) -> dict[str, int]:
    """Click the docked icon; the open menu's geometry once its window is mapped."""
    at = icon(display)
    click(display, at["X"] + at["WIDTH"] // 2, at["Y"] + at["HEIGHT"] // 2, button=3)
    return wait_until(lambda: mapped(display, "styleswap", top_level=True), "menu window after clicking the icon", context=lambda: windows(display))[0]


def choose(display: str, entry: int, keep: str | None = None) -> None:
    """Open the menu and click its `entry`-th line (0: the status line); GTK's menu lines are of one height."""
    menu = open_menu(display)
    if keep:
        screenshot(display, keep)
    click(display, menu["X"] + menu["WIDTH"] // 2, menu["Y"] + menu["HEIGHT"] * (2 * entry + 1) // (2 * ENTRIES), button=1)
    wait_until(lambda: not mapped(display, "styleswap", top_level=True), "menu closing after the click", context=lambda: windows(display))


def idle_icon(display: str, path) -> None:
    wait_until(lambda: coloured_pixels(display, path, IDLE_GREEN) >= 30, "green (idle) tray icon")


def opened(noted) -> list[str]:
    return noted.read_text().splitlines() if noted.is_file() else []


def ready_lines(root) -> int:
    return (root / "console.txt").read_text().count(" ready on ")


@pytest.mark.parametrize(
    "asked, chosen",
    [(None, "appindicator (the first with a menu that works here)"), ("gtk", "gtk (PYSTRAY_BACKEND)")],
    ids=["default-appindicator", "gtk"],
)
def test_each_menu_entry_does_what_it_says(asked, chosen, menu_display, session_bus, opener, tmp_path, monkeypatch, models):
    display = menu_display
    monkeypatch.setenv("DISPLAY", display)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", session_bus)
    if asked:
        monkeypatch.setenv("PYSTRAY_BACKEND", asked)
    else:
        monkeypatch.delenv("PYSTRAY_BACKEND", raising=False)
    monkeypatch.setenv("NO_AT_BRIDGE", "1")  # GTK's accessibility bus: not under test, and slow to start
    root = tmp_path / "tray"
    connection_file, log_file = root / "run" / "backend.json", root / "log" / "backend.log"
    process = spawn(root, "--tray")

    def engine() -> dict:
        """The daemon's own account of its state (hello's `info`), from whichever process serves now."""
        with Client(wait_until_ready(connection_file, timeout=90, process=process)) as client:
            return client.hello()["engine"]

    try:
        wait_until_ready(connection_file, timeout=90, process=process)
        assert f"tray backend: {chosen}" in log_file.read_text()
        assert engine()["state"] == "idle"
        idle_icon(display, tmp_path / "idle.png")  # the tray updates the menu before the icon's colour

        choose(display, 1, keep=tmp_path / "menu.png")  # Pause
        wait_until(lambda: engine()["state"] == "paused", "pause after clicking Pause")
        if target := os.environ.get("STYLESWAP_TRAY_MENU_SCREENSHOT"):
            shutil.copyfile(tmp_path / "menu.png", target)

        choose(display, 1)  # Resume
        wait_until(lambda: engine()["state"] == "idle", "resume after clicking Resume")

        choose(display, 3)  # Open log
        wait_until(lambda: opened(opener) == [str(log_file)], f"{log_file} opened", context=lambda: str(opened(opener)))
        if asked == "gtk":  # a GtkStatusIcon's left click runs the menu's default entry: Open log
            at = icon(display)
            click(display, at["X"] + at["WIDTH"] // 2, at["Y"] + at["HEIGHT"] // 2, button=1)
            wait_until(lambda: opened(opener) == [str(log_file)] * 2, f"{log_file} opened by a left click", context=lambda: str(opened(opener)))

        assert ready_lines(root) == 1
        choose(display, 2)  # Restart: the same process runs styleswap-backend again (exec), which is ready again
        wait_until(lambda: ready_lines(root) == 2, "second start after clicking Restart", timeout=120, context=lambda: (root / "console.txt").read_text())
        assert process.poll() is None and engine()["state"] == "idle"

        choose(display, 4)  # Quit
        assert process.wait(timeout=60) == 0
        assert not connection_file.exists()
        wait_until(lambda: not mapped(display, "styleswap", top_level=False), "tray icon gone after Quit", context=lambda: windows(display))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def chosen_backend(**env: str) -> str:
    """`tray_backend.choose()` in a fresh interpreter (GTK starts at most once per process)."""
    environment = {k: v for k, v in os.environ.items() if k not in ("PYSTRAY_BACKEND", "DBUS_SESSION_BUS_ADDRESS")} | env
    code = "from styleswap.daemon.tray_backend import choose; print(*choose(), sep=': ')"
    done = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_choice_takes_a_menu_where_there_is_one_and_says_why_not(menu_display, session_bus, tmp_path):
    assert chosen_backend(DISPLAY=menu_display, DBUS_SESSION_BUS_ADDRESS=session_bus) == "appindicator: the first with a menu that works here"
    nowhere = f"unix:path={tmp_path / 'no-bus'}"
    assert chosen_backend(DISPLAY=menu_display, DBUS_SESSION_BUS_ADDRESS=nowhere).startswith(
        "xorg: no menu: a click opens the log; appindicator: no D-Bus session bus ("
    )
    assert chosen_backend(DISPLAY=menu_display, DBUS_SESSION_BUS_ADDRESS=session_bus, PYSTRAY_BACKEND="gtk") == "gtk: PYSTRAY_BACKEND"


class StatusNotifierHost:
    """sni_host.py on the session bus: the desktop's panel, reading and clicking the menu over D-Bus."""

    def __init__(self, bus: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("sni_host.py"))],
            env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": bus},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.registered: list[str] = []  # services, in order
        self.replies: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.replies.get(timeout=60) == "watching"

    def _read(self) -> None:
        for line in self.process.stdout:
            if line.startswith("registered "):
                self.registered.append(line.split()[1])
            else:
                self.replies.put(line.strip())

    def ask(self, command: str) -> str:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        reply = self.replies.get(timeout=60)
        assert not reply.startswith("error"), f"{command}: {reply}"
        return reply

    def menu(self) -> list[tuple[str, bool]]:
        return [(entry["label"], entry["enabled"]) for entry in json.loads(self.ask("menu"))]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture
def sni_host(session_bus):
    host = StatusNotifierHost(session_bus)
    yield host
    if host.process.poll() is None:
        host.close()


def test_the_menu_on_a_statusnotifier_desktop(bare_display, session_bus, sni_host, opener, tmp_path, monkeypatch, models):
    """KDE's panel or GNOME's AppIndicator extension: no XEmbed tray; the item registers with the watcher and the
    host reads and clicks its menu over D-Bus (dbusmenu), which is also how the status line is checked here."""
    monkeypatch.setenv("DISPLAY", bare_display)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", session_bus)
    monkeypatch.setenv("NO_AT_BRIDGE", "1")
    monkeypatch.delenv("PYSTRAY_BACKEND", raising=False)
    root = tmp_path / "tray"
    connection_file, log_file = root / "run" / "backend.json", root / "log" / "backend.log"
    process = spawn(root, "--tray")
    version = importlib.metadata.version("styleswap")

    def engine() -> dict:
        with Client(wait_until_ready(connection_file, timeout=90, process=process)) as client:
            return client.hello()["engine"]

    def menu_is(*entries: tuple[str, bool]) -> None:
        wait_until(lambda: sni_host.menu() == list(entries), f"menu {entries}", context=lambda: str(sni_host.menu()))

    try:
        wait_until_ready(connection_file, timeout=90, process=process)
        wait_until(lambda: sni_host.registered, "StatusNotifierItem registered")
        assert "tray backend: appindicator (the first with a menu that works here)" in log_file.read_text()
        menu_is((f"StyleSwap {version}: idle on cpu, 0 jobs", False), ("Pause", True), ("Restart", True), ("Open log", True), ("Quit", True))
        assert not mapped(bare_display, "styleswap", top_level=False)  # no fallback icon: the host shows it

        sni_host.ask("click Pause")
        wait_until(lambda: engine()["state"] == "paused", "pause after clicking Pause")
        menu_is((f"StyleSwap {version}: paused on cpu, 0 jobs", False), ("Resume", True), ("Restart", True), ("Open log", True), ("Quit", True))
        sni_host.ask("click Resume")
        wait_until(lambda: engine()["state"] == "idle", "resume after clicking Resume")

        sni_host.ask("click Open log")
        wait_until(lambda: opened(opener) == [str(log_file)], f"{log_file} opened", context=lambda: str(opened(opener)))

        first = sni_host.registered[0]
        sni_host.ask("click Restart")
        wait_until(lambda: ready_lines(root) == 2, "second start after clicking Restart", timeout=120, context=lambda: (root / "console.txt").read_text())
        wait_until(lambda: sni_host.registered[-1] != first, "the restarted daemon's item registered")
        menu_is((f"StyleSwap {version}: idle on cpu, 0 jobs", False), ("Pause", True), ("Restart", True), ("Open log", True), ("Quit", True))

        sni_host.ask("click Quit")
        assert process.wait(timeout=60) == 0
        assert not connection_file.exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
