"""Fixtures for the Blender add-on tests: Blender 4.5 LTS to 5.3 as `bpy` venvs (built on first use,
outside the repository; 5.1+ in the Debian trixie root), the add-on zip built by the real
`styleswap install-blender-addon`, and a real daemon on 127.0.0.1."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import pytest

import bpy_env
import styleswap_client as client
from blender_run import Blender
from styleswap.cli import main
from styleswap.engine.errors import StyleSwapError


@pytest.fixture(scope="session")
def wheels() -> Path:
    """pyzmq wheels for the zip, kept beside the bpy venvs so reruns need no download."""
    return bpy_env.default_root() / "wheels"


def _build_zip(target: Path, wheels: Path) -> Path:
    try:
        assert main(["install-blender-addon", "-o", str(target), "--wheels", str(wheels)]) == 0
    except StyleSwapError as exc:
        pytest.skip(f"cannot build the add-on zip here: {exc}")
    return target


@pytest.fixture(scope="session")
def addon_zip(tmp_path_factory, wheels) -> Path:
    return _build_zip(tmp_path_factory.mktemp("addon") / "styleswap_blender.zip", wheels)


@pytest.fixture(scope="session")
def root_addon_zip(tmp_path_factory, wheels) -> Path:
    """The zip for a Blender in the trixie root. This StyleSwap lives outside the root, so the daemon command
    the build records (what autostart runs) first leaves the root: it enters this process's mount namespace
    and root directory, and runs the daemon as the zip for this machine would."""
    escape = ["nsenter", "--target", str(os.getpid()), "--mount", "--root", "--wd"]
    saved = os.environ.get(client.BACKEND_ENV)
    os.environ[client.BACKEND_ENV] = shlex.join([*escape, *client.backend_command()])
    try:
        return _build_zip(tmp_path_factory.mktemp("addon-root") / "styleswap_blender.zip", wheels)
    finally:
        if saved is None:
            del os.environ[client.BACKEND_ENV]
        else:
            os.environ[client.BACKEND_ENV] = saved


@pytest.fixture(scope="session", params=list(bpy_env.VERSIONS), ids=lambda v: f"blender-{v}")
def bpy(request) -> bpy_env.BpyEnv:
    root = bpy_env.default_root()
    if reason := bpy_env.unavailable_reason(root, request.param):
        pytest.skip(reason)
    return bpy_env.ensure(root, request.param, log=lambda line: print(f"bpy: {line}", file=sys.stderr))


@pytest.fixture
def blender(request, bpy, daemon) -> Blender:
    zip_fixture = "addon_zip" if bpy.root is None else "root_addon_zip"
    return Blender(bpy, request.getfixturevalue(zip_fixture), daemon.path)
