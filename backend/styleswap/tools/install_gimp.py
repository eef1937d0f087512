"""`styleswap install-gimp-plugin`: put the GIMP 3 plug-in into a GIMP profile, ready to run.

GIMP's Python cannot import this package (it has no torch, often no pyzmq, and on Windows and macOS it
is GIMP's own bundled interpreter), so the plug-in folder gets everything it needs copied into it: the
wire protocol package and the client, plus a settings file naming this installation's Python (the
fallback that runs the transfer when GIMP's Python lacks pyzmq) and the command that starts the daemon.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import styleswap_client as client
from styleswap import __version__
from styleswap.engine.errors import StyleSwapError
from styleswap.tools.vendoring import vendored_files

PLUGIN = "styleswap_gimp"  # GIMP runs plug-ins/<name>/<name>.py: folder and file must be named alike
SOURCE = Path(importlib.util.find_spec(PLUGIN).submodule_search_locations[0])  # plugin_gimp/, shipped in the wheel
SETTINGS = "styleswap_gimp.json"
PROFILE_ENV = "GIMP3_DIRECTORY"  # GIMP's own override of its profile folder
SERIES = ("3.0", "3.2")  # GIMP 3's minor series, oldest first: each has a profile folder of its own


def default_profile() -> Path:
    """The per-user profile folder of the newest GIMP 3 that has one here, or `$GIMP3_DIRECTORY` as GIMP
    itself honours.

    GIMP 3.2 reads GIMP/3.2, not GIMP/3.0; on its first start it copies GIMP/3.0 (plug-ins included) into a
    GIMP/3.2 it does not have yet. So with no profile yet, GIMP/3.0 serves both: 3.0 reads it, 3.2 takes it over.
    """
    if override := os.environ.get(PROFILE_ENV):
        return Path(override).expanduser()
    if sys.platform == "win32":
        gimp = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming") / "GIMP"
    elif sys.platform == "darwin":
        gimp = Path.home() / "Library" / "Application Support" / "GIMP"
    else:
        config = os.environ.get("XDG_CONFIG_HOME")
        gimp = (Path(config) if config and os.path.isabs(config) else Path.home() / ".config") / "GIMP"
    return next((gimp / series for series in reversed(SERIES) if (gimp / series).is_dir()), gimp / SERIES[0])


def plugin_dir(profile: Path) -> Path:
    return profile / "plug-ins" / PLUGIN


def install(profile: Path | None = None, python: str | None = None) -> Path:
    """Install (or replace) the plug-in; returns its folder. `python` is the fallback interpreter with
    pyzmq, this one by default. The folder is assembled beside the target and swapped in whole, so
    GIMP never sees half a plug-in."""
    if not (SOURCE / f"{PLUGIN}.py").is_file():
        raise StyleSwapError(f"the GIMP plug-in sources are missing from {SOURCE}; reinstall StyleSwap")
    target = plugin_dir(profile or default_profile())
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{PLUGIN}.", dir=target.parent))
    try:
        for source in SOURCE.glob("*.py"):
            shutil.copy2(source, staging / source.name)
        (staging / f"{PLUGIN}.py").chmod(0o755)
        for source, name in vendored_files():
            (staging / name).parent.mkdir(exist_ok=True)
            shutil.copy2(source, staging / name)
        settings = {"python": python or sys.executable, "backend": client.backend_command(), "version": __version__}
        (staging / SETTINGS).write_text(json.dumps(settings, indent=2) + "\n")
        staging.chmod(0o755)
        _remove(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def uninstall(profile: Path | None = None) -> Path | None:
    """Remove the plug-in folder; returns it, or None when it was not installed."""
    target = plugin_dir(profile or default_profile())
    if not target.exists():
        return None
    _remove(target)
    return target


def _remove(target: Path) -> None:
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        shutil.rmtree(target)
