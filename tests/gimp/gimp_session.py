"""Running the plug-in in a real GIMP 3 and reading back what happened.

A `GimpHost` is where gimp-console-3.0 or -3.2 lives: the trixie (3.0) or forky (3.2) root, entered with
chroot, on machines whose Debian has no such GIMP, or this machine itself when it has one. A `Sandbox` is a work folder the host can
see, holding a GIMP profile with the plug-in installed by the real installer; each job in it is one
gimp-console run of batch_run.py, whose dumps come back as numpy arrays.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from PIL import Image as PILImage

from gimp_root import PATH, chroot_command
from styleswap.tools import install_gimp

if TYPE_CHECKING:  # tests/daemon is on sys.path only under pytest
    from daemon_helpers import RunningDaemon

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ["STYLESWAP_DATA"])  # set by the suite's conftest
STYLE = DATA / "eval" / "style" / "hokusai_great_wave.jpg"
PHOTO = DATA / "eval" / "content" / "object_coffee_skimage.jpg"
GIMP_VERSION = "3.0"  # the GIMP a host is by default
RUN_TIMEOUT = 240  # a run takes 5-15 s; this only stops a hung GIMP from hanging the suite


@dataclass(frozen=True)
class GimpHost:
    """`root` is the trixie root, or None when GIMP 3 is installed on this machine."""

    root: Path | None
    python_with_zmq: str  # a Python that has pyzmq, as the plug-in sees it: the fallback under test
    version: str = GIMP_VERSION  # GIMP's minor series: 3.0, 3.2

    @property
    def console(self) -> str:
        return f"gimp-console-{self.version}"

    def host_path(self, inside: str) -> Path:
        return Path(inside) if self.root is None else self.root / inside.lstrip("/")

    def inside(self, path: Path) -> str:
        return str(path) if self.root is None else "/" + str(path.relative_to(self.root))

    def command(self, argv: list[str], env: dict[str, str], binds: tuple[str, ...] = ()) -> list[str]:
        """`argv` with a clean environment plus `env`; `binds` are host folders the chroot needs too."""
        if self.root is None:
            return ["env", "-i", f"PATH={PATH}", "LANG=C.UTF-8", *(f"{k}={v}" for k, v in env.items()), *argv]
        return chroot_command(self.root, argv, env, binds)


def native_host(version: str = GIMP_VERSION) -> GimpHost | None:
    return GimpHost(None, sys.executable, version) if shutil.which(f"gimp-console-{version}") else None


def chroot_host(root: Path, version: str = GIMP_VERSION) -> GimpHost:
    return GimpHost(root, "/usr/bin/python3", version)  # the root's python3-zmq


@dataclass
class Layer:
    name: str
    offsets: tuple[int, int]
    opacity: float
    pixels: np.ndarray  # (H, W, 4) u8, R'G'B'A
    mask: np.ndarray | None  # (H, W) u8 layer mask
    locked: list[bool]  # its pixels, its alpha
    mask_applied: bool  # it has a mask, and the mask is on


@dataclass
class Outcome:
    status: str  # the procedure's PDB status: "success", "execution-error", ...
    error: str | None
    before: list[Layer]  # the image's layers before the call, top first
    after: list[Layer]  # after the call, as saved to XCF and loaded back
    selection: np.ndarray | None  # (H, W) u8 selection mask of the canvas, when the job made one
    output: str  # GIMP's stdout and stderr
    seconds: float
    image_types: str  # the image types the procedure (and so its menu entry) is registered for
    arguments: dict[str, dict[str, Any]]  # the procedure's arguments: GObject type, default, range, choices


class Sandbox:
    def __init__(self, host: GimpHost, folder: Path) -> None:
        self.host = host
        self.folder = folder
        self.profile = folder / "profile"
        self.plugin = install_gimp.install(self.profile, python=host.python_with_zmq)
        shutil.copy(HERE / "batch_run.py", folder / "batch_run.py")

    def start(self, name: str, content: np.ndarray, style: Path, args: dict[str, Any], connection_file: Path | None, env: dict[str, str] | None = None, **job: Any) -> Running:
        """Begin one gimp-console run on `content` (RGBA u8). `connection_file` is copied in (None: no
        daemon); `job` holds what batch_run.py does before the call (`offsets`, `ellipse` and `feather`, ...)."""
        work = self.folder / name
        work.mkdir()
        PILImage.fromarray(content).save(work / "content.png")
        shutil.copy(style, work / style.name)
        connection = work / "backend.json"
        binds: tuple[str, ...] = ()
        if connection_file is not None:
            shutil.copy(connection_file, connection)
            socket_path = json.loads(connection_file.read_text()).get("path")
            if socket_path is not None:  # an ipc daemon: its socket's folder appears at the same path inside the root
                binds = (str(Path(socket_path).parent),)
        spec = {"input": self.host.inside(work / "content.png"), "style": self.host.inside(work / style.name), "out": self.host.inside(work), "args": args, **job}
        (work / "job.json").write_text(json.dumps(spec))
        full_env = {
            "HOME": self.host.inside(self.folder),
            "GIMP3_DIRECTORY": self.host.inside(self.profile),
            "STYLESWAP_CONNECTION_FILE": self.host.inside(connection),
            "STYLESWAP_GIMP_JOB": self.host.inside(work / "job.json"),
            **(env or {}),
        }
        batch = f"exec(open({self.host.inside(self.folder / 'batch_run.py')!r}).read())"
        argv = ["timeout", "-k", "10", str(RUN_TIMEOUT), self.host.console, "-idf", "--batch-interpreter=python-fu-eval", "-b", batch, "--quit"]
        process = subprocess.Popen(self.host.command(argv, full_env, binds), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return Running(self, work, process, time.monotonic())

    def run(self, *args: Any, **kwargs: Any) -> Outcome:
        return self.start(*args, **kwargs).wait()

    def plugin_pids(self) -> list[int]:
        """Processes running this sandbox's installed plug-in (GIMP runs it as `python3 <path>`)."""
        script = self.host.inside(self.plugin / f"{install_gimp.PLUGIN}.py").encode()
        pids = []
        for proc in Path("/proc").iterdir():
            try:
                if proc.name.isdigit() and script in (proc / "cmdline").read_bytes().split(b"\0"):
                    pids.append(int(proc.name))
            except OSError:
                continue
        return pids

    def kill_plugin(self) -> None:
        """What GIMP does when the user cancels the plug-in's progress: SIGKILL."""
        for pid in self.plugin_pids():
            os.kill(pid, signal.SIGKILL)


@dataclass
class Running:
    sandbox: Sandbox
    work: Path
    process: subprocess.Popen
    started: float

    def wait(self) -> Outcome:
        output, _ = self.process.communicate(timeout=RUN_TIMEOUT + 30)
        seconds = time.monotonic() - self.started
        report_file = self.work / "report.json"
        if not report_file.is_file():
            raise AssertionError(f"GIMP exited with {self.process.returncode} without a report:\n{output[-4000:]}")
        report = json.loads(report_file.read_text())
        selection = report.get("selection") and self._read(report["selection"], report["canvas"], 1)
        return Outcome(report["status"], report["error"], self._layers(report["before"]), self._layers(report["after"]), selection, output, seconds, report["image_types"], report["arguments"])

    def _layers(self, entries: list[dict[str, Any]]) -> list[Layer]:
        return [
            Layer(e["name"], tuple(e["offsets"]), e["opacity"], self._read(e["pixels"], e["size"], 4), e["mask"] and self._read(e["mask"], e["size"], 1), e["locked"], e["mask_applied"])
            for e in entries
        ]

    def _read(self, inside: str, size: list[int], channels: int) -> np.ndarray:
        width, height = size
        pixels = np.fromfile(self.sandbox.host.host_path(inside), np.uint8).reshape(height, width, channels)
        return pixels[..., 0] if channels == 1 else pixels


def daemon_jobs(daemon: RunningDaemon) -> int:
    """Jobs the daemon holds, queued or running."""
    with daemon.client() as client:
        return client.hello()["engine"]["jobs"]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `condition`; returns the seconds it took, or fails the test after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what} did not happen within {timeout:g} s")
        time.sleep(0.1)
    return time.monotonic() - started
