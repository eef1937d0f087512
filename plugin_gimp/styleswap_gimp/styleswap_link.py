"""The plug-in's side of the wire: pyzmq and the vendored client, in GIMP's Python or in a child process.

Imported by the plug-in when GIMP's Python has pyzmq. Run as a script (`python styleswap_link.py`) by
the fallback Python otherwise: it then reads one request from stdin and answers on stdout, in the
format `styleswap_transfer` writes and reads.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
from typing import Any, BinaryIO

import styleswap_client as client
from styleswap_protocol import Image
from styleswap_transfer import Pixels, Progress, TransferError, read_pixels, settings

CLIENT_NAME = "gimp-plugin"
_STATUS_TIMEOUT = 3.0


def _use_recorded_backend() -> str | None:
    """Let the client start the daemon with the command the installer recorded (unless the user set
    $STYLESWAP_BACKEND); returns the command line in use, or None when nothing can start the daemon."""
    if client.BACKEND_ENV not in os.environ:
        backend = settings().get("backend")
        if not backend:
            return None
        # The client splits this the way its platform's shell would.
        os.environ[client.BACKEND_ENV] = subprocess.list2cmdline(backend) if os.name == "nt" else shlex.join(backend)
    return os.environ[client.BACKEND_ENV]


def _connect(timeout: float) -> client.Client:
    command = _use_recorded_backend()
    try:
        return client.connect(autostart=command is not None, timeout=timeout, name=CLIENT_NAME)
    except (OSError, client.DaemonError) as exc:  # OSError: the recorded command does not exist here
        reason = exc.message if isinstance(exc, client.DaemonError) else f"`{command}` failed: {exc}"
        raise TransferError(
            f"The StyleSwap daemon is not running and could not be started ({reason}). Start it with "
            "`styleswap-backend`, or run `styleswap install-gimp-plugin` again from the Python environment where "
            "StyleSwap is installed, so that GIMP can start it."
        ) from None


def stylize(content: Pixels, style: Pixels, options: dict[str, Any], timeout: float, progress: Progress) -> Pixels:
    def report(event: client.Progress) -> None:
        progress(event.fraction, event.stage)

    with _connect(timeout) as daemon:
        try:
            result = daemon.stylize(_image(content), _image(style), options, progress=report, timeout=timeout)
        except client.DaemonTimeout:
            raise TransferError(f"The StyleSwap daemon sent nothing for {timeout:g} s; the job was cancelled. Raise the timeout for large images.") from None
        except client.DaemonError as exc:
            raise TransferError(f"The StyleSwap daemon could not stylise this layer: {exc.message}") from None
    image = result.image
    return Pixels(image.width, image.height, image.channels, image.dtype, bytes(image.data))


def daemon_status() -> str:
    try:
        daemon = client.connect(timeout=_STATUS_TIMEOUT, name=CLIENT_NAME)
    except client.DaemonError as exc:
        start = "it will be started when you press OK" if _use_recorded_backend() else "start it with `styleswap-backend`"
        return f"Not running: {start}. ({exc.message})"
    with daemon:
        info = daemon.daemon or {}
    engine = info.get("engine", {})
    return f"Running: StyleSwap {info.get('daemon_version', '?')} on {engine.get('device', '?')}, {engine.get('state', '?')} (pid {info.get('pid', '?')})."


def _image(pixels: Pixels) -> Image:
    return Image(pixels.width, pixels.height, pixels.channels, pixels.dtype, pixels.data)


# -- child mode ------------------------------------------------------------------------------------


def _exit_when_parent_dies(stdin: BinaryIO) -> None:
    """The parent keeps our stdin open until it has the answer; end of file before that means GIMP killed
    it (a cancel), so exit at once: our socket closes and the daemon drops the job."""

    def watch() -> None:
        stdin.read()
        os._exit(3)

    threading.Thread(target=watch, daemon=True).start()


def _serve_child(stdin: BinaryIO, stdout: BinaryIO) -> None:
    def send(answer: dict[str, Any], data: bytes = b"") -> None:
        stdout.write(json.dumps(answer).encode() + b"\n" + data)
        stdout.flush()

    try:
        request = json.loads(stdin.readline())
        if request["op"] == "status":
            send({"status": daemon_status()})
            return
        content = read_pixels(stdin, request["content"])
        style = read_pixels(stdin, request["style"])
        _exit_when_parent_dies(stdin)
        result = stylize(content, style, request["options"], request["timeout"], lambda fraction, stage: send({"progress": fraction, "stage": stage}))
        send({"result": result.descriptor()}, result.data)
    except TransferError as exc:
        send({"error": str(exc)})


if __name__ == "__main__":
    _serve_child(sys.stdin.buffer, sys.stdout.buffer)
