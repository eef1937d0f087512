"""Python environments with Blender as a module (`pip install bpy`), for running the add-on in real Blender.

Each supported Blender version gets its own venv, built once and reused while its marker file says it is
complete (about a minute and 1 GB each). PyPI has bpy wheels for one CPython per release: 3.11 for 4.5
and 5.0, which this machine's python3.11 serves (the venv is in the user cache), and 3.13 for 5.1 to 5.3,
which the Debian trixie root of the GIMP tests serves (tests/gimp/gimp_root.py: its python3.13 with the X11,
GL and EGL libraries bpy loads; the venv is inside the root under /opt, and Blender runs there by chroot).
Both come from the project's files alone, on any Debian machine with root.

    python tests/blender/bpy_env.py 4.5.15 5.3.0   # build them by hand
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "gimp"))  # the trixie root the GIMP tests build

import gimp_root  # noqa: E402

# The latest patch of 4.5 LTS and of each release since, with the only CPython PyPI has its bpy wheel for.
VERSIONS = {"4.5.15": "3.11", "5.0.1": "3.11", "5.1.2": "3.13", "5.2.4": "3.13", "5.3.0": "3.13"}
HOST_PYTHON = "3.11"  # what this machine has; bpy for any other CPython is installed in the trixie root
ROOT_PACKAGES = (  # what bpy needs in the minimal root beyond GIMP's: venv, and the X11/GL/EGL it loads
    "python3-venv",
    "libx11-6",
    "libxi6",
    "libxfixes3",
    "libxrender1",
    "libxxf86vm1",
    "libxkbcommon0",
    "libxext6",
    "libsm6",
    "libvulkan1",
    "libgl1",
    "libegl1",  # without an EGL a render aborts
    "libegl-mesa0",
    "libglx-mesa0",
    "libgl1-mesa-dri",
)
IN_ROOT = "/opt/styleswap-bpy"  # where the root's venvs live, seen from inside it
HOST_CA = f"{IN_ROOT}/host-ca-certificates.crt"
MARKER = ".styleswap-bpy.json"  # written last: a venv without it is incomplete and rebuilt
ROOT_ENV = "STYLESWAP_BPY_ROOT"
_INSTALL_TIMEOUT = 900


@dataclass(frozen=True)
class BpyEnv:
    """A venv with bpy==version; `root` is the trixie root it lives in (None: this machine), `python` the
    venv's interpreter as a command sees it (inside the root for a root's venv)."""

    version: str
    python: str
    root: Path | None = None

    def command(self, argv: list[str], env: dict[str, str], cwd: Path, binds: Iterable[Path] = ()) -> list[str]:
        """`argv` in `cwd` with `env` added to this process's environment (in the root: to a clean one);
        `binds` are host folders a run in the root sees at the same paths (the repository, the work folder...)."""
        argv = ["env", "-C", str(cwd), *argv]
        if self.root is None:
            return ["env", *(f"{k}={v}" for k, v in env.items()), *argv]
        folders = sorted({str(Path(b).resolve()) for b in [cwd, *binds]})
        return gimp_root.chroot_command(self.root, argv, env, folders)


def default_root() -> Path:
    """`$STYLESWAP_BPY_ROOT`, else the user cache shared with the other host tests."""
    if override := os.environ.get(ROOT_ENV):
        return Path(override)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "styleswap-tests"


def in_root(version: str) -> bool:
    return VERSIONS[version] != HOST_PYTHON


def unavailable_reason(root: Path, version: str) -> str | None:
    """Why this bpy cannot be had here, or None."""
    if in_root(version):
        if (reason := gimp_root.unavailable_reason(gimp_root.default_root())) is not None:
            return f"bpy {version} needs Python {VERSIONS[version]}, from the Debian trixie root: {reason}"
        if (_root_venv(gimp_root.default_root(), version) / MARKER).is_file():
            return None
    else:
        if (root / f"bpy-{version}" / MARKER).is_file():
            return None
        if _host_python() is None:
            return f"bpy {version} needs Python {HOST_PYTHON} to install into, and there is no python{HOST_PYTHON} here"
    try:
        socket.create_connection(("pypi.org", 443), timeout=10).close()
    except OSError as exc:
        return f"no network to PyPI ({exc}) to install bpy {version}"
    return None


def ensure(root: Path, version: str, log=print) -> BpyEnv:
    """The venv with bpy==version, built on first use. Concurrent sessions wait on a lock."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"bpy-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if in_root(version):
            return _ensure_in_root(version, log)
        venv = root / f"bpy-{version}"
        if not (venv / MARKER).is_file():
            shutil.rmtree(venv, ignore_errors=True)
            log(f"creating {venv} with bpy=={version} (about a minute and 1 GB)")
            _run([_host_python() or sys.executable, "-m", "venv", str(venv)])
            _run([str(venv / "bin" / "python"), *_PIP_INSTALL, f"bpy=={version}"])
            (venv / MARKER).write_text(json.dumps({"bpy": version}) + "\n")
        return BpyEnv(version, str(venv / "bin" / "python"))


_PIP_INSTALL = ("-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-cache-dir")


def _ensure_in_root(version: str, log) -> BpyEnv:
    """The venv inside the trixie root (the root is built or extended first, under its own lock)."""
    system = gimp_root.ensure_root(gimp_root.default_root(), ROOT_PACKAGES, log=log)
    venv = _root_venv(system, version)
    inside = f"{IN_ROOT}/bpy-{version}"
    if not (venv / MARKER).is_file():
        shutil.rmtree(venv, ignore_errors=True)
        log(f"creating {inside} in {system} with bpy=={version} (about a minute and 1 GB)")
        shutil.copyfile("/etc/resolv.conf", system / "etc/resolv.conf")  # pip inside reaches PyPI
        # ... and trusts what this machine trusts (a TLS-inspecting proxy's CA, say), not only its own bundle.
        venv.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_host_ca_bundle(), system / HOST_CA.lstrip("/"))
        _run(gimp_root.chroot_command(system, [f"python{VERSIONS[version]}", "-m", "venv", inside]))
        _run(gimp_root.chroot_command(system, [f"{inside}/bin/python", *_PIP_INSTALL, f"bpy=={version}"], {"PIP_CERT": HOST_CA}))
        (venv / MARKER).write_text(json.dumps({"bpy": version}) + "\n")
    return BpyEnv(version, f"{inside}/bin/python", system)


def _host_ca_bundle() -> str:
    """The certificates this machine's pip trusts: $PIP_CERT or $SSL_CERT_FILE if set, else Debian's bundle."""
    for candidate in (os.environ.get("PIP_CERT"), os.environ.get("SSL_CERT_FILE"), ssl.get_default_verify_paths().cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return candidate
    raise RuntimeError("no CA bundle on this machine for pip in the trixie root to trust")


def _root_venv(system: Path, version: str) -> Path:
    return system / IN_ROOT.lstrip("/") / f"bpy-{version}"


def _host_python() -> str | None:
    if sys.version_info[:2] == tuple(map(int, HOST_PYTHON.split("."))):
        return sys.executable
    return shutil.which(f"python{HOST_PYTHON}")


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=_INSTALL_TIMEOUT, check=False)
    if result.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout[-3000:]}")


if __name__ == "__main__":
    for wanted in sys.argv[1:] or VERSIONS:
        print(ensure(default_root(), wanted))
