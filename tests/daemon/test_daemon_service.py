"""`styleswap-backend install-service` / `uninstall-service` with a private XDG config home."""

import shlex
import sys

import pytest

from styleswap.daemon import command
from styleswap.daemon.service import PASSED_ENV, autostart_entry, autostart_path, install, systemd_unit, unit_path


@pytest.fixture
def config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    for name in PASSED_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STYLESWAP_BACKEND", f"{sys.executable} -m styleswap.daemon.command")
    monkeypatch.setenv("STYLESWAP_MODELS", "/opt/style models")
    return tmp_path


@pytest.mark.skipif(sys.platform != "linux", reason="systemd and XDG autostart are Linux's")
def test_install_writes_a_user_unit_and_an_autostart_entry_and_uninstall_removes_them(config_home, capsys):
    assert command.main(["install-service"]) == 0
    unit, entry = unit_path(), autostart_path()
    assert unit == config_home / "systemd" / "user" / "styleswap-backend.service"
    assert entry == config_home / "autostart" / "styleswap-backend.desktop"
    unit_text, entry_text = unit.read_text(), entry.read_text()
    assert f"ExecStart={sys.executable} -m styleswap.daemon.command\n" in unit_text
    assert 'Environment="STYLESWAP_MODELS=/opt/style models"\n' in unit_text and "WantedBy=default.target" in unit_text
    exec_line = next(line for line in entry_text.splitlines() if line.startswith("Exec="))
    assert shlex.split(exec_line[5:]) == ["env", "STYLESWAP_MODELS=/opt/style models", sys.executable, "-m", "styleswap.daemon.command", "--tray", "--replace"]
    assert "systemctl --user enable --now styleswap-backend.service" in capsys.readouterr().out
    assert command.main(["uninstall-service"]) == 0
    assert not unit.exists() and not entry.exists()
    assert "removed:" in capsys.readouterr().out
    assert command.main(["uninstall-service"]) == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_special_characters_stay_literal():
    command = ["/home/a b/bin/styleswap-backend", "--log-dir", "/tmp/100%$HOME"]
    unit = systemd_unit(command, {})
    assert 'ExecStart="/home/a b/bin/styleswap-backend" --log-dir /tmp/100%%$$HOME\n' in unit
    entry = autostart_entry(command, {})
    assert 'Exec="/home/a b/bin/styleswap-backend" --log-dir "/tmp/100%%\\$HOME" --tray --replace\n' in entry


@pytest.mark.parametrize(("platform", "says"), [("win32", "shell:startup"), ("darwin", "LaunchAgents")])
def test_other_platforms_get_instructions_and_nothing_is_written(config_home, platform, says):
    text = install(platform)
    assert says in text and "styleswap.daemon.command" in text
    assert not (config_home / "systemd").exists() and not (config_home / "autostart").exists()
