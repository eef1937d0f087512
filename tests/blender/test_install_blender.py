"""`styleswap install-blender-addon`: what the zip holds, which wheel fits which Blender, and failures."""

from __future__ import annotations

import ast
import json
import zipfile
from pathlib import Path

import pytest
import tomllib

import styleswap_protocol
from styleswap import __version__, client, install_blender
from styleswap.cli import main
from styleswap.errors import StyleSwapError

LINUX = "pyzmq-27.1.0-cp311-cp311-manylinux_2_26_x86_64.manylinux_2_28_x86_64.whl"
MAC = "pyzmq-27.1.0-cp311-cp311-macosx_10_15_universal2.whl"
WINDOWS = "pyzmq-27.1.0-cp311-cp311-win_amd64.whl"


def test_zip_is_an_extension_and_a_legacy_addon_with_everything_vendored(addon_zip):
    prefix = f"{install_blender.ADDON}/"
    with zipfile.ZipFile(addon_zip) as archive:
        files = set(archive.namelist())
        assert all(name.startswith(prefix) for name in files)  # one top folder: a legacy add-on folder too
        for source in install_blender.SOURCE.glob("*.py"):
            assert archive.read(prefix + source.name) == source.read_bytes()
        for source in Path(styleswap_protocol.__file__).parent.glob("*.py"):
            assert archive.read(f"{prefix}vendor/styleswap_protocol/{source.name}") == source.read_bytes()
        assert archive.read(f"{prefix}vendor/styleswap_client.py") == Path(client.__file__).read_bytes()
        manifest = tomllib.loads(archive.read(prefix + "blender_manifest.toml").decode())
        build = json.loads(archive.read(prefix + install_blender.BUILD_INFO))
        init = archive.read(prefix + "__init__.py").decode()

    assert (manifest["id"], manifest["type"], manifest["version"], manifest["blender_version_min"]) == ("styleswap", "add-on", __version__, "4.2.0")
    assert manifest["platforms"] == ["linux-x64", "macos-arm64", "macos-x64", "windows-x64"]  # Blender's platform names
    assert sorted(Path(w).name for w in manifest["wheels"]) == sorted([LINUX, MAC, WINDOWS])  # the Macs share one
    assert {f"{prefix}wheels/{Path(w).name}" for w in manifest["wheels"]} == {n for n in files if n.endswith(".whl")}
    bl_info = ast.literal_eval(next(n.value for n in ast.parse(init).body if isinstance(n, ast.Assign) and n.targets[0].id == "bl_info"))
    assert ".".join(map(str, bl_info["version"])) == __version__ and bl_info["blender"] == (4, 2, 0)
    assert build == {"version": __version__, "backend": client.backend_command()}


@pytest.mark.parametrize(
    ("system", "machine", "wheel"),
    [("linux", "x86_64", LINUX), ("darwin", "arm64", MAC), ("darwin", "x86_64", MAC), ("win32", "AMD64", WINDOWS)],
)
def test_each_platform_gets_the_one_wheel_that_fits_it(system, machine, wheel):
    matches = install_blender._addon_deps().wheel_matches
    fitting = [w for w in (LINUX, MAC, WINDOWS) if matches(w, system, machine, (3, 11))]
    assert fitting == [wheel]
    assert not matches(wheel, system, machine, (3, 12))  # compiled for 3.11 only
    assert not matches(LINUX, "linux", "aarch64", (3, 11))


def test_a_missing_wheel_without_pip_access_says_how_to_go_on(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")  # no find-links or mirrors from this machine's pip.conf
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(StyleSwapError, match="could not download pyzmq .* for linux-x64 .*--wheels"):
        install_blender.build(tmp_path / "addon.zip", tmp_path / "empty", ["linux-x64"])
    assert not (tmp_path / "addon.zip").exists()
    with pytest.raises(StyleSwapError, match="unknown Blender platform 'amiga'"):
        install_blender.build(tmp_path / "addon.zip", tmp_path / "empty", ["amiga"])


def test_cli_builds_for_chosen_platforms_from_a_wheel_folder(tmp_path, wheels, addon_zip, capsys):
    target = tmp_path / "linux-only.zip"
    assert main(["install-blender-addon", "-o", str(target), "--wheels", str(wheels), "--platform", "linux-x64"]) == 0
    assert str(target) in capsys.readouterr().out
    with zipfile.ZipFile(target) as archive:
        manifest = tomllib.loads(archive.read(f"{install_blender.ADDON}/blender_manifest.toml").decode())
    assert manifest["platforms"] == ["linux-x64"] and [Path(w).name for w in manifest["wheels"]] == [LINUX]
