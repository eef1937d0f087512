"""Fixtures for the Blender add-on tests: Blender 4.5 LTS and 5.0 as `bpy` venvs (built on first use,
outside the repository), the add-on zip built by the real `styleswap install-blender-addon`, and a real
daemon on 127.0.0.1."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import bpy_env
from blender_run import Blender
from styleswap.cli import main
from styleswap.engine.errors import StyleSwapError


@pytest.fixture(scope="session")
def wheels() -> Path:
    """pyzmq wheels for the zip, kept beside the bpy venvs so reruns need no download."""
    return bpy_env.default_root() / "wheels"


@pytest.fixture(scope="session")
def addon_zip(tmp_path_factory, wheels) -> Path:
    target = tmp_path_factory.mktemp("addon") / "styleswap_blender.zip"
    try:
        assert main(["install-blender-addon", "-o", str(target), "--wheels", str(wheels)]) == 0
    except StyleSwapError as exc:
        pytest.skip(f"cannot build the add-on zip here: {exc}")
    return target


@pytest.fixture(scope="session", params=bpy_env.VERSIONS, ids=lambda v: f"blender-{v}")
def bpy_python(request) -> tuple[str, Path]:
    root = bpy_env.default_root()
    if reason := bpy_env.unavailable_reason(root, request.param):
        pytest.skip(reason)
    return request.param, bpy_env.ensure(root, request.param, log=lambda line: print(f"bpy: {line}", file=sys.stderr))


@pytest.fixture
def blender(bpy_python, addon_zip, daemon) -> Blender:
    version, python = bpy_python
    return Blender(version, python, addon_zip, daemon.path)
