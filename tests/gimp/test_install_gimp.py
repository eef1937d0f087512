"""`styleswap install-gimp-plugin`: where it installs, what the plug-in folder holds, and --uninstall."""

from __future__ import annotations

import filecmp
import json
import os
import sys
from pathlib import Path

import pytest

import styleswap_client as client
import styleswap_protocol
from styleswap import __version__
from styleswap.cli import main
from styleswap.tools import install_gimp


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("linux", {"XDG_CONFIG_HOME": "/cfg"}, "/cfg/GIMP/3.0"),
        ("linux", {}, "{home}/.config/GIMP/3.0"),
        ("win32", {"APPDATA": "/appdata"}, "/appdata/GIMP/3.0"),
        ("darwin", {}, "{home}/Library/Application Support/GIMP/3.0"),
        ("darwin", {"GIMP3_DIRECTORY": "/isolated"}, "/isolated"),
    ],
)
def test_default_profile_is_gimps_own_per_platform(monkeypatch, tmp_path, platform, env, expected):
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("XDG_CONFIG_HOME", "APPDATA", "GIMP3_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert install_gimp.default_profile() == Path(expected.format(home=tmp_path))


@pytest.mark.parametrize(("existing", "expected"), [((), "3.0"), (("3.0",), "3.0"), (("3.2",), "3.2"), (("3.0", "3.2"), "3.2")])
def test_the_profile_of_the_newest_gimp_here_is_the_default(monkeypatch, tmp_path, existing, expected):
    """GIMP 3.2 reads GIMP/3.2 only; with no profile at all, GIMP/3.0 is what 3.2 copies on its first start."""
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("GIMP3_DIRECTORY", raising=False)
    for series in existing:
        (tmp_path / "GIMP" / series).mkdir(parents=True)
    assert install_gimp.default_profile() == tmp_path / "GIMP" / expected


def test_install_puts_a_self_contained_plugin_in_the_profile(tmp_path, capsys):
    assert main(["install-gimp-plugin", "--profile", str(tmp_path)]) == 0

    folder = tmp_path / "plug-ins" / "styleswap_gimp"
    assert str(folder) in capsys.readouterr().out
    main_file = folder / "styleswap_gimp.py"
    assert os.access(main_file, os.X_OK)
    assert main_file.read_text().startswith("#!/usr/bin/env python3")
    for source in install_gimp.SOURCE.glob("*.py"):
        assert filecmp.cmp(source, folder / source.name, shallow=False)
    for package in (styleswap_protocol, client):  # each under the name it has in the source tree
        source = Path(package.__file__).parent
        comparison = filecmp.dircmp(source, folder / source.name, ignore=["__pycache__"])
        assert not comparison.left_only and not comparison.right_only and not comparison.diff_files
    settings = json.loads((folder / "styleswap_gimp.json").read_text())
    assert settings == {"python": sys.executable, "backend": client.backend_command(), "version": __version__}


def test_reinstall_replaces_the_folder_and_uninstall_removes_it(tmp_path, capsys):
    install_gimp.install(tmp_path, python="/opt/python-with-zmq")
    folder = install_gimp.plugin_dir(tmp_path)
    (folder / "left-over.py").write_text("")

    install_gimp.install(tmp_path)
    assert not (folder / "left-over.py").exists()
    assert json.loads((folder / "styleswap_gimp.json").read_text())["python"] == sys.executable
    assert [p.name for p in folder.parent.iterdir()] == ["styleswap_gimp"]  # no staging folder left

    assert main(["install-gimp-plugin", "--profile", str(tmp_path), "--uninstall"]) == 0
    assert not folder.exists()
    assert main(["install-gimp-plugin", "--profile", str(tmp_path), "--uninstall"]) == 0
    assert "was not installed" in capsys.readouterr().out
