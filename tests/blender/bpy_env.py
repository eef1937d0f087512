"""Python environments with Blender as a module (`pip install bpy`), for running the add-on in real Blender.

Each supported Blender version gets its own venv in the user cache, outside the repository, built once
(~30 s and ~1 GB each) and reused while its marker file says it is complete.

    python tests/blender/bpy_env.py 4.5.15 5.0.1   # build them by hand
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

VERSIONS = ("4.5.15", "5.0.1")  # 4.5 LTS and 5.0; both wheels are built for CPython 3.11
PYTHON = "3.11"
MARKER = ".styleswap-bpy.json"  # written last: a venv without it is incomplete and rebuilt
ROOT_ENV = "STYLESWAP_BPY_ROOT"
_INSTALL_TIMEOUT = 900


def default_root() -> Path:
    """`$STYLESWAP_BPY_ROOT`, else the user cache shared with the other host tests."""
    if override := os.environ.get(ROOT_ENV):
        return Path(override)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "styleswap-tests"


def env_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def unavailable_reason(root: Path, version: str) -> str | None:
    """Why this bpy cannot be had here, or None. Wheels exist only for one CPython per release."""
    if (root / f"bpy-{version}" / MARKER).is_file():
        return None
    python = _base_python()
    if python is None:
        return f"bpy {version} needs Python {PYTHON} to install into, and there is no python{PYTHON} here"
    try:
        socket.create_connection(("pypi.org", 443), timeout=10).close()
    except OSError as exc:
        return f"no network to PyPI ({exc}) to install bpy {version}"
    return None


def ensure(root: Path, version: str, log=print) -> Path:
    """The venv with bpy==version, built on first use; returns its Python. Concurrent sessions wait on a lock."""
    venv = root / f"bpy-{version}"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"bpy-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / MARKER).is_file():
            shutil.rmtree(venv, ignore_errors=True)
            log(f"creating {venv} with bpy=={version} (about a minute and 1 GB)")
            _run([_base_python() or sys.executable, "-m", "venv", str(venv)])
            _run([str(env_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"bpy=={version}"])
            (venv / MARKER).write_text(json.dumps({"bpy": version}) + "\n")
    return env_python(venv)


def _base_python() -> str | None:
    if sys.version_info[:2] == tuple(map(int, PYTHON.split("."))):
        return sys.executable
    return shutil.which(f"python{PYTHON}")


def _run(argv: list[str]) -> None:
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=_INSTALL_TIMEOUT, check=False)
    if result.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout[-3000:]}")


if __name__ == "__main__":
    for wanted in sys.argv[1:] or VERSIONS:
        print(ensure(default_root(), wanted))
