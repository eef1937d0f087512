"""`styleswap install-blender-addon`: what the zip holds, which wheel fits which Blender, and failures."""

from __future__ import annotations

import ast
import json
import zipfile
from pathlib import Path

import pytest
import tomllib

import styleswap_client as client
import styleswap_protocol
from styleswap import __version__
from styleswap.cli import main
from styleswap.engine.errors import StyleSwapError
from styleswap.tools import install_blender

LINUX = "pyzmq-26.4.0-cp311-cp311-manylinux_2_28_x86_64.whl"
MAC = "pyzmq-26.4.0-cp311-cp311-macosx_10_15_universal2.whl"
WINDOWS = "pyzmq-26.4.0-cp311-cp311-win_amd64.whl"
LINUX_313, MAC_313, WINDOWS_313 = (name.replace("cp311-cp311", "cp313-cp313") for name in (LINUX, MAC, WINDOWS))


def test_zip_is_an_extension_and_a_legacy_addon_with_everything_vendored(addon_zip):
    prefix = f"{install_blender.ADDON}/"
    with zipfile.ZipFile(addon_zip) as archive:
        files = set(archive.namelist())
        assert all(name.startswith(prefix) for name in files)  # one top folder: a legacy add-on folder too
        for source in install_blender.SOURCE.glob("*.py"):
            assert archive.read(prefix + source.name) == source.read_bytes()
        for package in (styleswap_protocol, client):  # each under the name it has in the source tree
            folder = Path(package.__file__).parent
            for source in folder.glob("*.py"):
                assert archive.read(f"{prefix}vendor/{folder.name}/{source.name}") == source.read_bytes()
        manifest = tomllib.loads(archive.read(prefix + "blender_manifest.toml").decode())
        build = json.loads(archive.read(prefix + install_blender.BUILD_INFO))
        init = archive.read(prefix + "__init__.py").decode()

    assert (manifest["id"], manifest["type"], manifest["version"]) == ("styleswap", "add-on", __version__)
    assert (manifest["blender_version_min"], manifest["blender_version_max"]) == ("4.5.0", "5.4.0")  # 4.5 LTS to 5.3
    assert manifest["platforms"] == list(install_blender.PLATFORMS)
    # One wheel per platform for each Blender Python, 3.11 (4.5, 5.0) and 3.13 (5.1 to 5.3); the Macs share one.
    assert sorted(Path(w).name for w in manifest["wheels"]) == sorted([LINUX, MAC, WINDOWS, LINUX_313, MAC_313, WINDOWS_313])
    assert {f"{prefix}wheels/{Path(w).name}" for w in manifest["wheels"]} == {n for n in files if n.endswith(".whl")}
    bl_info = ast.literal_eval(next(n.value for n in ast.parse(init).body if isinstance(n, ast.Assign) and n.targets[0].id == "bl_info"))
    assert ".".join(map(str, bl_info["version"])) == __version__ and bl_info["blender"] == (4, 5, 0)
    assert build == {"version": __version__, "backend": client.backend_command()}


@pytest.mark.parametrize(
    ("system", "machine", "wheel"),
    [("linux", "x86_64", LINUX), ("darwin", "arm64", MAC), ("darwin", "x86_64", MAC), ("win32", "AMD64", WINDOWS)],
)
def test_each_platform_and_python_gets_the_one_wheel_that_fits_it(system, machine, wheel):
    matches = install_blender._addon_deps().wheel_matches
    bundled = (LINUX, MAC, WINDOWS, LINUX_313, MAC_313, WINDOWS_313)
    assert [w for w in bundled if matches(w, system, machine, (3, 11))] == [wheel]
    assert [w for w in bundled if matches(w, system, machine, (3, 13))] == [wheel.replace("cp311-cp311", "cp313-cp313")]
    assert not matches(wheel, system, machine, (3, 12))  # compiled for 3.11 only
    assert not matches(LINUX, "linux", "aarch64", (3, 11))


def test_stable_abi_wheels_fit_their_python_and_later_ones_and_free_threaded_builds_fit_none():
    matches = install_blender._addon_deps().wheel_matches
    abi3 = "pyzmq-27.1.0-cp312-abi3-manylinux_2_26_x86_64.manylinux_2_28_x86_64.whl"
    assert [matches(abi3, "linux", "x86_64", (3, minor)) for minor in (11, 12, 13)] == [False, True, True]
    assert matches("pyzmq-27.1.0-cp312-abi3-win_amd64.whl", "win32", "AMD64", (3, 13))
    assert not matches("pyzmq-26.4.0-cp313-cp313t-manylinux_2_28_x86_64.whl", "linux", "x86_64", (3, 13))


def test_a_missing_wheel_without_pip_access_says_how_to_go_on(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")  # no find-links or mirrors from this machine's pip.conf
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(StyleSwapError, match="could not download pyzmq .* for linux-x64, Python 3.11 .*--wheels"):
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
    assert manifest["platforms"] == ["linux-x64"] and [Path(w).name for w in manifest["wheels"]] == [LINUX, LINUX_313]
