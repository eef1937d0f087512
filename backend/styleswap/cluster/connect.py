"""Joining a Ray cluster from the CLI or the daemon, with the way out when there is none."""

from __future__ import annotations

import logging
import os
import socket

from styleswap.engine.errors import StyleSwapError

LOCAL = "local"  # start a one-machine cluster in this process, for trying it out
AUTO = "auto"  # the cluster `ray start` left this machine's address for
_REACH_TIMEOUT_S = 10.0


def connect(address: str) -> None:
    """Join the cluster at ``address`` (``auto``, ``local``, ``HOST:PORT`` or ``ray://HOST:PORT``) once per process."""
    if address not in (LOCAL, AUTO) and not address.startswith("ray://"):
        _check_reachable(address)
    # Ray's crash reporter would take SIGTERM over and abort: the daemon's clean exit on SIGTERM must stay its own.
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    try:
        import ray
    except ImportError:
        raise StyleSwapError("--ray needs Ray on this machine and every node: pip install 'styleswap[ray]'") from None
    if ray.is_initialized():
        return
    try:
        if address == LOCAL:
            ray.init(include_dashboard=False, logging_level=logging.WARNING, _node_ip_address="127.0.0.1")  # nothing else joins it
        else:
            ray.init(address=address, logging_level=logging.WARNING)
    except ConnectionError as exc:
        hint = (
            "start one with `ray start --head` (docs/cluster.md), or use --ray local"
            if address == AUTO
            else "is its head running, and is ADDRESS its GCS address (HOST:6379)?"
        )
        raise StyleSwapError(f"cannot reach the Ray cluster at {address}: {exc}; {hint}") from None


def _check_reachable(address: str) -> None:
    """Fail in seconds with the reason: Ray itself retries an unreachable head for minutes before giving up."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise StyleSwapError(f"--ray takes auto, local, HOST:PORT or ray://HOST:PORT, not {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=_REACH_TIMEOUT_S).close()
    except OSError as exc:
        raise StyleSwapError(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}; is its head running (`ray start --head`), and is this its GCS port (6379 unless --port)?"
        ) from None


def disconnect() -> None:
    import ray

    ray.shutdown()
