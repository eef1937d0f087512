"""`styleswap install-blender-addon`: build the Blender add-on zip.

Blender's Python has no torch and no pyzmq, so the zip carries what the add-on needs: the wire protocol
package and the client (copied from this install, never committed twice), one pyzmq wheel per platform and
Blender Python (fetched once with pip into the user cache), and the command that starts this install's daemon. The zip
holds one top folder with both a `blender_manifest.toml` (a Blender extension: Blender installs the
wheels) and `bl_info` (a legacy add-on: it unpacks its wheel itself).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

import styleswap_client as client
from styleswap import __version__
from styleswap.engine.errors import StyleSwapError
from styleswap.engine.weights import cache_dir
from styleswap.tools.vendoring import vendored_files

ADDON = "styleswap_blender"
SOURCE = Path(importlib.util.find_spec(ADDON).submodule_search_locations[0])  # plugin_blender/, shipped in the wheel
# The last pyzmq with a wheel per CPython: 27 has only cp312-abi3 wheels for 3.12+, and Blender's extension
# tooling reads an abi3 wheel beside a cp311 one as 3.11-only, so a 5.1+ Blender would refuse the zip.
PYZMQ = "26.4.0"
PYTHONS = ((3, 11), (3, 13))  # the CPython of Blender 4.5 and 5.0; of Blender 5.1 to 5.3
PLATFORMS = {  # Blender platform -> (pip --platform tag, sys.platform, machine) of the wheel it needs
    "linux-x64": ("manylinux_2_28_x86_64", "linux", "x86_64"),
    "macos-arm64": ("macosx_11_0_arm64", "darwin", "arm64"),
    "macos-x64": ("macosx_10_15_x86_64", "darwin", "x86_64"),
    "windows-x64": ("win_amd64", "win32", "AMD64"),
}
BUILD_INFO = "styleswap_build.json"
_PIP_TIMEOUT = 300


def default_output() -> Path:
    return Path(f"{ADDON}-{__version__}.zip")


def build(output: Path, wheels: Path | None = None, platforms: Iterable[str] = PLATFORMS) -> Path:
    """Write the add-on zip to `output` (atomically); `wheels` is a folder of pyzmq wheels to use or fill."""
    if not (SOURCE / "blender_manifest.toml").is_file():
        raise StyleSwapError(f"the Blender add-on sources are missing from {SOURCE}; reinstall StyleSwap")
    platforms = list(platforms)
    chosen = fetch_wheels(wheels or cache_dir().parent / "wheels", platforms)
    manifest = (SOURCE / "blender_manifest.toml").read_text()
    manifest += f"platforms = {json.dumps(platforms)}\nwheels = {json.dumps([f'./wheels/{w.name}' for w in chosen])}\n"
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=output.parent, prefix=f".{output.name}.", suffix=".zip", delete=False) as tmp:
        try:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
                for source in sorted(SOURCE.glob("*.py")):
                    archive.write(source, f"{ADDON}/{source.name}")
                archive.writestr(f"{ADDON}/blender_manifest.toml", manifest)
                for source, name in vendored_files():
                    archive.write(source, f"{ADDON}/vendor/{name}")
                for wheel in chosen:
                    archive.write(wheel, f"{ADDON}/wheels/{wheel.name}")
                archive.writestr(f"{ADDON}/{BUILD_INFO}", json.dumps({"version": __version__, "backend": client.backend_command()}, indent=2) + "\n")
            Path(tmp.name).replace(output)
        except BaseException:
            Path(tmp.name).unlink()
            raise
    return output


def fetch_wheels(folder: Path, platforms: Iterable[str]) -> list[Path]:
    """The pyzmq wheel of each platform and Blender Python (one wheel may serve two platforms), downloaded
    into `folder` when missing."""
    chosen: list[Path] = []
    for name in platforms:
        if name not in PLATFORMS:
            raise StyleSwapError(f"unknown Blender platform {name!r}; choose from {', '.join(PLATFORMS)}")
        for python in PYTHONS:
            wheel = _find_wheel(folder, name, python) or _download(folder, name, python)
            if wheel not in chosen:
                chosen.append(wheel)
    return chosen


def _find_wheel(folder: Path, platform: str, python: tuple[int, int]) -> Path | None:
    _, system, machine = PLATFORMS[platform]
    matches = _addon_deps().wheel_matches
    return next((w for w in sorted(folder.glob(f"pyzmq-{PYZMQ}-*.whl")) if matches(w.name, system, machine, python)), None)


def _download(folder: Path, platform: str, python: tuple[int, int]) -> Path:
    tag = PLATFORMS[platform][0]
    version = ".".join(map(str, python))
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps", "--only-binary=:all:"]
    command += ["--implementation", "cp", "--python-version", version, "--abi", f"cp{python[0]}{python[1]}", "--platform", tag, f"pyzmq=={PYZMQ}", "-d", str(folder)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=_PIP_TIMEOUT, check=False)
    if result.returncode or (wheel := _find_wheel(folder, platform, python)) is None:
        raise StyleSwapError(
            f"could not download pyzmq {PYZMQ} for {platform}, Python {version} (pass --wheels with the wheels if offline):\n{result.stderr.strip()[-2000:]}"
        )
    return wheel


def _addon_deps():
    """The add-on's own wheel matcher (deps.py needs no bpy), so the build and Blender agree on what fits."""
    spec = importlib.util.spec_from_file_location(f"{ADDON}_deps", SOURCE / "deps.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
