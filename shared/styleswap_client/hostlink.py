"""What every host plug-in needs around the client: the command that starts the daemon, a status line,
and daemon failures turned into sentences that say what to do. Each host passes only its own wording of
where the user finds a setting."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Sequence
from typing import Any

from .client import BACKEND_ENV, DaemonError, DaemonTimeout, DaemonUnavailable

USER_BACKEND = os.environ.get(BACKEND_ENV)  # the user's own setting, before a host sets one


def command_line(command: Sequence[str]) -> str:
    """An argument list as one line, quoted the way the client splits it on this platform."""
    return subprocess.list2cmdline(list(command)) if os.name == "nt" else shlex.join(command)


def use_backend(preferred: str | None = None, recorded: Sequence[str] | None = None) -> str | None:
    """Choose the command line the client autostarts the daemon with: the host's own setting (`preferred`),
    else the user's $STYLESWAP_BACKEND, else the one the installer recorded. Returns it, or None when
    nothing can start the daemon."""
    line = (preferred or "").strip() or USER_BACKEND or (command_line(recorded) if recorded else None)
    if line:
        os.environ[BACKEND_ENV] = line
    return line


def status_line(info: dict[str, Any] | None) -> str:
    """One line about a running daemon from its `info` reply."""
    info = info or {}
    engine = info.get("engine", {})
    return f"Running: StyleSwap {info.get('daemon_version', '?')} on {engine.get('device', '?')}, {engine.get('state', '?')} (pid {info.get('pid', '?')})."


def advice(exc: DaemonError, *, start: str, slower: str, kept: str = "") -> str:
    """A daemon failure as a sentence: what happened, then what to do. `start` says how to get the daemon
    running in this host, `slower` how to give it more time; `kept` what of the user's work is safe."""
    tail = f"; {kept}" if kept else ""
    if isinstance(exc, DaemonUnavailable):
        return f"The StyleSwap daemon is not available ({exc.message}). {start}{tail}."
    if isinstance(exc, DaemonTimeout) or exc.code == "timeout":
        return f"The StyleSwap daemon did not answer in time ({exc.message}). {slower}{tail}."
    return f"The StyleSwap daemon refused the request: {exc.message} [{exc.code}]{tail}."
