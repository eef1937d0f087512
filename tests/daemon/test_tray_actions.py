"""The tray menu's callbacks as plain functions, on a real in-process daemon; no display needed."""

import os
import subprocess
import sys
import threading
import time

import pytest

from daemon_helpers import TINY, picture, to_image, wait_until
from styleswap.daemon.config import DaemonConfig
from styleswap.daemon.logs import setup_logging
from styleswap.daemon.server import Daemon
from styleswap.daemon.tray import STATE_COLOURS, TrayActions, icon_image
from styleswap_client import Client


@pytest.fixture
def served(tmp_path, models):
    import torch

    threads = torch.get_num_threads()  # the in-process daemon sets torch's thread count for the whole pytest process
    config = DaemonConfig(device="cpu", threads=1, connection_file=tmp_path / "run" / "backend.json", log_dir=tmp_path / "log")
    log_file = setup_logging(config.log_dir)
    daemon = Daemon(config)
    thread = threading.Thread(target=daemon.run, name="test-daemon")
    thread.start()
    assert daemon.ready.wait(120)
    opened = []
    yield daemon, thread, TrayActions(daemon, log_file, open_path=opened.append), opened
    daemon.stop()
    thread.join(120)
    torch.set_num_threads(threads)


def test_status_text_says_state_device_and_jobs(served):
    daemon, _, actions, _ = served
    assert actions.status_text() == f"StyleSwap {daemon.describe()['daemon_version']}: idle on cpu, 0 jobs"


def test_open_log_opens_the_daemons_log_file(served):
    daemon, _, actions, opened = served
    actions.open_log()
    assert opened == [actions.log_file]
    assert f"ready on {daemon.info.url} " in actions.log_file.read_text()


def test_pause_holds_work_until_resumed(served):
    daemon, _, actions, _ = served
    actions.toggle_pause()
    assert actions.is_paused() and daemon.state == "paused"
    results = []
    with Client(daemon.info, timeout=30) as client:
        worker = threading.Thread(target=lambda: results.append(client.stylize(to_image(picture(16, 16, 3)), to_image(picture(16, 16, 3)), TINY)))
        worker.start()
        wait_until(lambda: len(daemon.jobs.queue) == 1, "the job queued while paused")
        time.sleep(0.5)  # a paused daemon must not start it: half a second in which it would, if it could
        assert results == [] and len(daemon.jobs.queue) == 1 and "paused" in actions.status_text()
        actions.toggle_pause()
        worker.join(120)
    assert not actions.is_paused() and results[0].image.width == 16


def test_quit_stops_the_daemon_and_removes_its_file(served):
    daemon, thread, actions, _ = served
    actions.quit()
    thread.join(30)
    assert not thread.is_alive() and not daemon.restart_requested
    assert not daemon.config.connection_file.exists()


def test_restart_stops_the_daemon_asking_for_a_new_start(served):
    daemon, thread, actions, _ = served
    actions.restart()
    thread.join(30)
    assert not thread.is_alive() and daemon.restart_requested


def colour_name(r: int, g: int, b: int) -> str:
    """What a user would call the icon's colour."""
    if max(r, g, b) - min(r, g, b) < 30:
        return "grey"
    if r >= g and r >= b:
        return "amber" if g > 0.5 * r and b < 0.5 * g else "red"
    return "green" if g >= b else "blue"


def test_icon_colour_follows_the_state():
    expected = {"starting": "grey", "idle": "green", "busy": "blue", "paused": "amber", "error": "red"}  # the daemon's states
    for state, name in expected.items():
        image = icon_image(state)
        r, g, b, a = image.getpixel((32, 32))
        assert (colour_name(r, g, b), a) == (name, 255), state
        assert image.getpixel((32, 32)) == (*STATE_COLOURS[state], 255)  # the disc is one colour, the table's
        assert image.getpixel((0, 0))[3] == 0  # transparent corners


@pytest.mark.parametrize("asked", ["xorg", None], ids=["xorg", "chosen"])
def test_tray_without_a_display_is_a_clear_error(asked, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "PYSTRAY_BACKEND")}
    env.update(STYLESWAP_CONNECTION_FILE=str(tmp_path / "backend.json"), STYLESWAP_LOG_DIR=str(tmp_path / "log"))
    if asked:
        env["PYSTRAY_BACKEND"] = asked
    done = subprocess.run([sys.executable, "-m", "styleswap.daemon.command", "--tray"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "cannot show a tray icon" in done.stderr
    assert not (tmp_path / "backend.json").exists()
