"""Starting the daemon at login: a systemd user unit (headless, for any session) and an XDG autostart
entry (the tray icon, for desktop sessions) on Linux; instructions elsewhere.

Both may run at login: the desktop's `--tray --replace` instance takes over from the headless one, which
exits cleanly (so `Restart=on-failure` leaves it stopped), and the single-instance lock keeps it one daemon.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from styleswap_client import backend_command

UNIT_NAME = "styleswap-backend.service"
DESKTOP_NAME = "styleswap-backend.desktop"
# Settings the service should see as this shell does (a login session does not read shell profiles).
PASSED_ENV = ("STYLESWAP_MODELS", "STYLESWAP_ENCODER_WEIGHTS", "STYLESWAP_OFFLINE", "STYLESWAP_WEIGHTS_MIRROR", "STYLESWAP_LOG_DIR", "STYLESWAP_CONNECTION_FILE")


def _config_home() -> Path:
    configured = os.environ.get("XDG_CONFIG_HOME")
    return Path(configured) if configured and os.path.isabs(configured) else Path.home() / ".config"


def unit_path() -> Path:
    return _config_home() / "systemd" / "user" / UNIT_NAME


def autostart_path() -> Path:
    return _config_home() / "autostart" / DESKTOP_NAME


def _environment() -> dict[str, str]:
    return {name: os.environ[name] for name in PASSED_ENV if os.environ.get(name)}


def _quote(arg: str, specials: str) -> str:
    """Double-quote an argument if needed, backslash-escaping `specials` (both formats' rules)."""
    if arg and not any(ch in arg for ch in ' \t\n"\'\\' + specials):
        return arg
    return '"' + "".join("\\" + ch if ch in '"\\' + specials else ch for ch in arg) + '"'


def systemd_unit(command: list[str], env: dict[str, str]) -> str:
    # systemd expands $VAR and %-specifiers inside ExecStart: double them to keep them literal.
    exec_line = " ".join(_quote(arg, "").replace("$", "$$").replace("%", "%%") for arg in command)
    environment = "".join(f"Environment={_quote(f'{k}={v}', '').replace('%', '%%')}\n" for k, v in env.items())
    return (
        "[Unit]\n"
        "Description=StyleSwap style-transfer daemon\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"{environment}"
        f"ExecStart={exec_line}\n"
        "Restart=on-failure\n"
        "RestartSec=5\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def autostart_entry(command: list[str], env: dict[str, str]) -> str:
    # Desktop Entry spec: Exec arguments quoted with `"`, and `$ \` "` escaped inside; `%` doubled.
    words = (["env", *(f"{k}={v}" for k, v in env.items())] if env else []) + command + ["--tray", "--replace"]
    exec_line = " ".join(_quote(arg, "$`").replace("%", "%%") for arg in words)
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=StyleSwap daemon\n"
        "Comment=Style transfer for the GIMP and Blender plug-ins (tray icon)\n"
        f"Exec={exec_line}\n"
        "Terminal=false\n"
        "X-GNOME-Autostart-enabled=true\n"
    )


def install(platform: str = sys.platform) -> str:
    """Write the login entries (Linux), or say how to set them up; returns what to tell the user."""
    command = backend_command()
    shown = " ".join(command)
    if platform == "win32":
        return (
            "Windows: press Win+R, open shell:startup, and create a shortcut there to\n"
            f"  {shown} --tray\n"
            "(or add it in Task Scheduler with the trigger 'At log on')."
        )
    if platform == "darwin":
        return (
            "macOS: create ~/Library/LaunchAgents/org.styleswap.backend.plist with ProgramArguments\n"
            f"  {shown}\n"
            "and RunAtLoad true, then run: launchctl load ~/Library/LaunchAgents/org.styleswap.backend.plist"
        )
    env = _environment()
    written = []
    for path, text in ((unit_path(), systemd_unit(command, env)), (autostart_path(), autostart_entry(command, env))):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(f"  {path}")
    return "\n".join(
        ["wrote:", *written, f"enable the headless service now with: systemctl --user daemon-reload && systemctl --user enable --now {UNIT_NAME}",
         "the tray icon starts at your next desktop login"]
    )


def uninstall(platform: str = sys.platform) -> str:
    if platform in ("win32", "darwin"):
        return "remove the startup shortcut or LaunchAgent you created (see install-service)"
    removed = []
    for path in (unit_path(), autostart_path()):
        if path.exists():
            path.unlink()
            removed.append(f"  {path}")
    if not removed:
        return "nothing to remove: no StyleSwap login entries were installed"
    return "\n".join(["removed:", *removed, f"if the service was enabled, also run: systemctl --user disable --now {UNIT_NAME}"])
