"""Make the add-on's imports work in any Blender: pyzmq, the vendored client, and OpenImageIO.

An extension gets pyzmq from its wheels (Blender installs them). A legacy add-on has the same wheels in
its folder but nobody installs them, and a compiled module cannot be imported from a zip, so the wheel for
this platform is unpacked once beside the add-on. OpenImageIO ships with Blender; the `bpy` module from
PyPI keeps it off sys.path.
"""

from __future__ import annotations

import importlib
import platform
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENDOR = HERE / "vendor"  # styleswap_protocol/ and styleswap_client/, copied in by the build
WHEELS = HERE / "wheels"
UNPACKED = HERE / "site"


def ensure() -> None:
    _add_path(VENDOR)
    if not _importable("zmq"):
        _add_path(_unpack_wheel())
    if not _importable("OpenImageIO"):
        import bpy

        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        _add_path(Path(bpy.utils.resource_path("LOCAL")) / "python" / "lib" / version / "site-packages")


def wheel_matches(name: str, system: str = sys.platform, machine: str = platform.machine(), python: tuple[int, int] = sys.version_info[:2]) -> bool:
    """Whether a wheel file name fits this interpreter: its CPython and ABI tags and its OS and CPU.

    A `cpXY-cpXY` wheel fits CPython X.Y only; a `cpXY-abi3` wheel (the stable ABI) fits X.Y and every
    later 3.x; a free-threaded `cpXYt` build fits neither Blender's Python.
    """
    parts = name.removesuffix(".whl").split("-")
    if len(parts) < 5 or not _python_fits(parts[-3].split("."), parts[-2].split("."), python):
        return False
    tags = parts[-1]
    arch = {"amd64": "x86_64", "arm64": "arm64", "aarch64": "aarch64"}.get(machine.lower(), machine.lower())
    if system.startswith("linux"):
        return "linux" in tags and arch in tags
    if system == "darwin":
        return "macosx" in tags and (arch in tags or "universal2" in tags)
    if system == "win32":
        return tags == {"x86_64": "win_amd64", "arm64": "win_arm64"}.get(arch)
    return False


def _python_fits(interpreters: list[str], abis: list[str], python: tuple[int, int]) -> bool:
    exact = f"cp{python[0]}{python[1]}"
    if exact in interpreters and exact in abis:
        return True
    if "abi3" not in abis:
        return False
    return any(tag.startswith(f"cp{python[0]}") and tag[2:].isdigit() and int(tag[3:] or 0) <= python[1] for tag in interpreters)


def _unpack_wheel() -> Path:
    """Unpack this platform's pyzmq wheel into site/ (once; a marker says it is complete)."""
    marker = UNPACKED / ".complete"
    if marker.is_file():
        return UNPACKED
    wheel = next((w for w in sorted(WHEELS.glob("*.whl")) if wheel_matches(w.name)), None)
    if wheel is None:
        raise ImportError(
            f"Style Swap needs pyzmq, and none of its bundled wheels ({', '.join(w.name for w in WHEELS.glob('*.whl')) or 'none'}) fits this Blender ({sys.platform}, {platform.machine()}, Python {sys.version_info.major}.{sys.version_info.minor})"
        )
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(UNPACKED)
    marker.write_text(wheel.name)
    return UNPACKED


def _add_path(folder: Path) -> None:
    if folder.is_dir() and str(folder) not in sys.path:
        sys.path.append(str(folder))
        importlib.invalidate_caches()


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True
