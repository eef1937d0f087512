"""Discovery and lifecycle: the connection file, one daemon per file, replace, shutdown, autostart."""

import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from daemon_helpers import SLOW, TINY, daemon_env, picture, spawn, to_image
from styleswap_client import Client, DaemonError, DaemonUnavailable, connect, wait_until_ready
from styleswap_protocol import pid_alive, read_connection_file


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on `port`, from /proc/net/tcp{,6} (Linux)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(address)
    return found


def test_connection_file_is_private_and_names_a_loopback_only_daemon(launcher):
    daemon = launcher("--transport", "tcp")
    mode = stat.S_IMODE(os.stat(daemon.path).st_mode)
    assert mode == 0o600
    doc = json.loads(daemon.path.read_text())
    assert doc["pid"] == daemon.process.pid and doc["ip"] == "127.0.0.1" and len(doc["key"]) == 64
    assert doc["version"] == daemon.info.version and doc["port"] == daemon.info.port
    if sys.platform.startswith("linux"):
        assert listening_addresses(daemon.info.port) == {"0100007F"}  # 127.0.0.1, nothing else


def test_a_second_daemon_sees_the_first_and_exits_cleanly(launcher):
    first = launcher()
    second = spawn(first.root)
    assert second.wait(timeout=60) == 0
    assert f"already running (pid {first.process.pid}" in (first.root / "console.txt").read_text()
    assert read_connection_file(first.path).pid == first.process.pid
    with first.client() as client:
        assert client.hello()["pid"] == first.process.pid


def test_replace_stops_the_old_daemon_and_its_key_stops_working(launcher):
    old = launcher()
    replacement = spawn(old.root, "--replace")
    try:
        assert old.process.wait(timeout=60) == 0
        info = wait_until_ready(old.path, timeout=90, process=replacement)
        assert info.pid == replacement.pid and info.key != old.info.key
        with Client(old.info, timeout=2) as stale:
            with pytest.raises(DaemonError):
                stale.hello()
    finally:
        replacement.terminate()
        replacement.wait(timeout=30)


def test_shutdown_cancels_running_jobs_removes_the_file_and_exits(launcher):
    daemon = launcher()
    events = []

    def shut_down_once(event):
        if not events:
            events.append(event)
            with daemon.client() as other:
                other.shutdown()

    with daemon.client() as client:
        with pytest.raises(DaemonError) as caught:
            client.stylize(to_image(picture(64, 64, 3)), to_image(picture(32, 32, 3)), SLOW, progress=shut_down_once)
    assert caught.value.code == "cancelled" and "shutting down" in caught.value.message
    assert daemon.process.wait(timeout=30) == 0
    assert not daemon.path.exists()


def test_sigterm_is_a_clean_exit(launcher):
    daemon = launcher()
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(timeout=30) == 0
    assert not daemon.path.exists()
    assert "stopped" in daemon.log


def test_a_daemon_whose_engine_failed_says_so_instead_of_ready(launcher):
    daemon = launcher("--device", "banana")
    deadline = time.monotonic() + 30
    while "engine could not start" not in (console := (daemon.root / "console.txt").read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)  # the line follows the connection file
    assert "but its engine could not start: unknown device 'banana'" in console and " ready on " not in console
    assert daemon.stop() == 0


@pytest.mark.parametrize(("option", "value", "message"), [("--port", "99999", "a TCP port is 0 (any free one) to 65535, not 99999"), ("--threads", "-2", "must be at least 1, not -2")])
def test_out_of_range_numbers_are_refused_before_starting(tmp_path, option, value, message):
    done = subprocess.run([sys.executable, "-m", "styleswap.daemon.command", option, value], env=daemon_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and message in done.stderr
    assert not (tmp_path / "run" / "backend.json").exists()


def test_a_stale_connection_file_is_not_a_daemon(tmp_path):
    path = tmp_path / "backend.json"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path.write_text(json.dumps({"protocol": 2, "transport": "tcp", "ip": "127.0.0.1", "port": 9, "key": "ab" * 32, "signature_scheme": "hmac-sha256", "pid": dead.pid, "version": "0", "started": 0}))
    assert not pid_alive(dead.pid)
    with pytest.raises(DaemonUnavailable) as caught:
        connect(path)
    assert "no longer running" in caught.value.message
    with pytest.raises(DaemonUnavailable) as caught:
        connect(tmp_path / "absent.json")
    assert "styleswap-backend" in caught.value.message


def test_autostart_starts_a_daemon_when_none_runs(tmp_path, monkeypatch, models):
    env = daemon_env(tmp_path)
    monkeypatch.setenv("STYLESWAP_LOG_DIR", env["STYLESWAP_LOG_DIR"])
    monkeypatch.setenv("STYLESWAP_BACKEND", f"{sys.executable} -m styleswap.daemon.command --threads 1")
    path = tmp_path / "run" / "backend.json"
    client = connect(path, autostart=True, start_timeout=90)
    pid = client.info.pid
    try:
        assert client.hello()["pid"] == pid and pid_alive(pid)
        assert client.stylize(to_image(picture(16, 16, 3)), to_image(picture(16, 16, 3)), TINY).image.width == 16
        with connect(path, autostart=True) as again:  # a running daemon is reused, not started twice
            assert again.info.pid == pid
    finally:
        client.shutdown()
        client.close()
        reap(pid)
    assert not path.exists()


def reap(pid: int, timeout: float = 30.0) -> None:
    """Wait for our autostarted child to exit (connect() keeps no handle on it); kill it if it hangs."""
    deadline = time.monotonic() + timeout
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError(f"the autostarted daemon {pid} did not exit after shutdown")
        time.sleep(0.05)
