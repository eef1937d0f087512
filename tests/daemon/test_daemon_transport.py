"""Who can reach the daemon: over IPC only its user (the socket lives in the 0700 runtime folder); over
TCP anyone local can connect, but only a key holder gets past the handshake, so nothing a stranger sends
is buffered. The memory a stranger can cost is measured in benchmarks/daemon_stranger.py."""

import json
import os
import shutil
import stat
import subprocess
import sys

import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from daemon_helpers import REPLY_TIMEOUT, RawPeer, picture, to_image
from styleswap_protocol import connect_socket, new_key


def test_the_daemon_listens_on_a_socket_only_its_user_can_open(launcher):
    daemon = launcher()
    doc = json.loads(daemon.path.read_text())
    socket_path = daemon.path.with_name("backend.sock")
    assert doc["transport"] == "ipc" and doc["path"] == str(socket_path) and "port" not in doc
    assert stat.S_ISSOCK(os.stat(socket_path).st_mode)
    assert stat.S_IMODE(os.stat(socket_path).st_mode) == 0o600 and stat.S_IMODE(os.stat(socket_path.parent).st_mode) == 0o700
    with daemon.client() as client:
        assert client.hello()["pid"] == daemon.process.pid
    daemon.stop()
    assert not socket_path.exists() and not daemon.path.exists()


@pytest.mark.skipif(os.name == "nt" or os.geteuid() != 0 or not shutil.which("setpriv"), reason="acting as another user needs root and setpriv")
def test_another_user_cannot_connect_to_the_socket(launcher):
    daemon = launcher()
    connect = f"import socket; socket.socket(socket.AF_UNIX).connect({daemon.info.path!r}); print('connected')"
    # The system Python: the test's own environment may be unreadable to the other user.
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    done = subprocess.run(
        ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", python, "-c", connect], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "PermissionError" in done.stderr, done.stdout + done.stderr
    with daemon.client() as client:  # and its owner still can
        assert client.hello()["pid"] == daemon.process.pid


def handshake_outcome(socket: zmq.Socket, connect) -> int:
    """Connect `socket` with `connect()` and return its connection's first handshake event: succeeded, or failed (and why)."""
    monitor = socket.get_monitor_socket()
    wanted = {zmq.EVENT_HANDSHAKE_SUCCEEDED, zmq.EVENT_HANDSHAKE_FAILED_AUTH, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL}
    connect()
    try:
        while monitor.poll(REPLY_TIMEOUT * 1000):
            event = recv_monitor_message(monitor)["event"]
            if event in wanted:
                return event
        raise AssertionError(f"no handshake within {REPLY_TIMEOUT} s")
    finally:
        socket.disable_monitor()
        monitor.close(linger=0)


def test_over_tcp_a_stranger_fails_the_handshake_and_a_key_holder_is_served(launcher):
    daemon = launcher("--transport", "tcp")
    assert daemon.info.transport == "tcp" and daemon.info.ip == "127.0.0.1"
    context = zmq.Context()
    try:
        guesser = context.socket(zmq.DEALER)  # knows the port, not the key: PLAIN with a wrong password
        guesser.linger = 0
        assert handshake_outcome(guesser, lambda: connect_socket(guesser, daemon.info, new_key())) == zmq.EVENT_HANDSHAKE_FAILED_AUTH
        bare = context.socket(zmq.DEALER)  # no credentials at all: ZeroMQ's NULL mechanism
        bare.linger = 0
        assert handshake_outcome(bare, lambda: bare.connect(daemon.info.url)) != zmq.EVENT_HANDSHAKE_SUCCEEDED
        holder = context.socket(zmq.DEALER)
        holder.linger = 0
        assert handshake_outcome(holder, lambda: connect_socket(holder, daemon.info)) == zmq.EVENT_HANDSHAKE_SUCCEEDED
        with daemon.client() as client:
            assert (
                client.stylize(to_image(picture(16, 16, 3)), to_image(picture(16, 16, 3, seed=1)), {"method": "optim", "iters": 1, "max_size": 16}).image.width
                == 16
            )
        peer = RawPeer(daemon.info)
        try:
            assert peer.hello().type == "info"
        finally:
            peer.close()
    finally:
        context.destroy(linger=0)


@pytest.mark.skipif(os.name == "nt", reason="POSIX modes")
def test_the_daemon_refuses_a_runtime_folder_others_can_write(tmp_path):
    """Another user who can write there could replace the connection file or the socket before clients look."""
    run = tmp_path / "run"
    run.mkdir()
    os.chmod(run, 0o777)
    env = {**os.environ, "STYLESWAP_CONNECTION_FILE": str(run / "backend.json"), "STYLESWAP_LOG_DIR": str(tmp_path / "log")}
    done = subprocess.run([sys.executable, "-m", "styleswap.daemon.command"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert f"refusing the runtime folder {run}: the folder is writable by group or others (mode 777)" in done.stderr
    assert f"chmod 700 {run}" in done.stderr
    assert list(run.iterdir()) == []  # no lock, no socket, no key written there
