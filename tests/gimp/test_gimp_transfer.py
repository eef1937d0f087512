"""The installed plug-in's transfer code run by this machine's Python, outside GIMP: what it may import,
the pyzmq fallback child dying with the plug-in, starting the daemon, and the dialog's status line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import zmq
from PIL import Image as PILImage

from daemon_helpers import RunningDaemon
from gimp_session import STYLE, daemon_jobs, wait_until
from styleswap import __version__
from styleswap.tools import install_gimp
from styleswap_client import connect
from styleswap_protocol import read_connection_file

# Stands in for the plug-in process: the installed modules on sys.path, pyzmq optionally hidden.
DRIVER = textwrap.dedent(
    """
    import json, sys
    plugin, zmq_mode, op, spec = sys.argv[1:5]
    sys.path.insert(0, plugin)
    if zmq_mode == "hidden":
        sys.modules["zmq"] = None  # `import zmq` now fails, as in a GIMP whose Python lacks pyzmq
    import styleswap_transfer as transfer
    from styleswap_protocol import Image

    def say(**answer):
        print(json.dumps(answer), flush=True)

    if op == "status":
        say(status=transfer.daemon_status())
        sys.exit()
    spec = json.loads(spec)
    def pixels(path, width, height):
        return Image(width, height, 3, "u8", open(path, "rb").read())
    try:
        result = transfer.stylize(pixels(*spec["content"]), pixels(*spec["style"]), spec["options"], 60.0, lambda f, stage: say(progress=f))
        say(result=result.to_descriptor())
    except transfer.TransferError as exc:
        say(error=str(exc))
    """
)
TINY = {"method": "invnet", "max_size": 64}
SLOW = {"method": "invnet+optim", "max_size": 512}


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> Path:
    return install_gimp.install(tmp_path_factory.mktemp("profile"))


def raw(folder: Path, name: str, pixels: np.ndarray) -> list:
    path = folder / f"{name}.rgb"
    path.write_bytes(np.ascontiguousarray(pixels[..., :3]).tobytes())
    return [str(path), pixels.shape[1], pixels.shape[0]]


@pytest.fixture
def job(tmp_path, content) -> dict:
    style = np.asarray(PILImage.open(STYLE).convert("RGB").resize((64, 48)))
    return {"content": raw(tmp_path, "content", content), "style": raw(tmp_path, "style", style)}


@pytest.fixture
def large_job(tmp_path, job, large_content) -> dict:
    return {**job, "content": raw(tmp_path, "large", large_content)}


def driver(plugin: Path, zmq_mode: str, op: str, spec: dict, connection_file: Path) -> subprocess.Popen:
    env = {**os.environ, "STYLESWAP_CONNECTION_FILE": str(connection_file), "STYLESWAP_LOG_DIR": str(connection_file.parent / "log")}
    return subprocess.Popen([sys.executable, "-c", DRIVER, str(plugin), zmq_mode, op, json.dumps(spec)], env=env, stdout=subprocess.PIPE, text=True)


def answers(process: subprocess.Popen) -> list[dict]:
    output, _ = process.communicate(timeout=300)
    return [json.loads(line) for line in output.splitlines()]


def link_children(plugin: Path) -> list[int]:
    script = str(plugin / "styleswap_link.py").encode()
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _has_arg(p, script)]


def _has_arg(proc: Path, arg: bytes) -> bool:
    try:
        return arg in (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False


def test_the_plugin_imports_only_the_standard_library_and_pyzmq(plugin, tmp_path):
    # A Python without site-packages, given pyzmq alone: importing the plug-in's modules must work.
    site = Path(zmq.__file__).parent.parent
    for name in ("zmq", "pyzmq.libs"):
        if (site / name).exists():
            (tmp_path / name).symlink_to(site / name)
    probe = f"""
import sys, sysconfig
sys.path[:0] = [{str(plugin)!r}, {str(tmp_path)!r}]
import styleswap_transfer, styleswap_link
allowed = (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"], {str(plugin)!r}, {str(tmp_path)!r})
files = [getattr(m, "__file__", None) for m in list(sys.modules.values())]
print([f for f in files if f and not f.startswith(allowed)])
print(sys.modules["styleswap_protocol"].__file__)
"""
    result = subprocess.run([sys.executable, "-S", "-E", "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == ["[]", str(plugin / "styleswap_protocol" / "__init__.py")]


def test_without_pyzmq_and_without_a_fallback_python_the_message_says_what_to_do(tmp_path, job):
    plugin = install_gimp.install(tmp_path / "profile", python=str(tmp_path / "no-such-python"))
    [answer] = answers(driver(plugin, "hidden", "stylize", {**job, "options": TINY}, tmp_path / "backend.json"))
    assert "GIMP's Python cannot import pyzmq" in answer["error"]
    assert "apt install python3-zmq" in answer["error"]


def test_the_fallback_child_ends_with_the_plugin_and_the_daemon_drops_the_job(plugin, daemon: RunningDaemon, large_job):
    dropped = daemon.log.count("dropped: its client went away")
    process = driver(plugin, "hidden", "stylize", {**large_job, "options": SLOW}, daemon.path)
    assert "progress" in json.loads(process.stdout.readline())  # the job runs, through the child
    assert len(link_children(plugin)) == 1

    process.send_signal(signal.SIGKILL)  # GIMP's cancel
    process.wait()
    wait_until(lambda: not link_children(plugin), 120, "the fallback child exiting")
    wait_until(lambda: daemon_jobs(daemon) == 0, 120, "the daemon dropping the job")  # the job alone runs for many minutes
    assert daemon.log.count("dropped: its client went away") == dropped + 1


def test_the_daemon_is_started_when_none_runs_and_the_status_says_so(plugin, job, tmp_path, models):
    connection_file = tmp_path / "run" / "backend.json"
    [before] = answers(driver(plugin, "available", "status", {}, connection_file))
    assert before["status"].startswith("Not running: it will be started when you press OK.")

    result = answers(driver(plugin, "available", "stylize", {**job, "options": TINY}, connection_file))
    try:
        assert result[-1] == {"result": {"width": 96, "height": 64, "channels": 3, "dtype": "u8", "order": "top-down"}}
        assert any("progress" in answer for answer in result)
        [after] = answers(driver(plugin, "available", "status", {}, connection_file))
        assert after["status"].startswith(f"Running: StyleSwap {__version__} on ")
        assert after["status"].endswith(f", idle (pid {read_connection_file(connection_file).pid}).")
    finally:
        if connection_file.exists():
            with connect(connection_file) as started:
                started.shutdown()
