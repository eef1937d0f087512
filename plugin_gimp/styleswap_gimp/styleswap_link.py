"""The plug-in's side of the wire: pyzmq and the vendored client, in GIMP's Python or in a child process.

Imported by the plug-in when GIMP's Python has pyzmq. Run as a script (`python styleswap_link.py`) by
the fallback Python otherwise: it then reads one request from stdin and answers on stdout, in the
format `styleswap_transfer` writes and reads.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any, BinaryIO

import styleswap_client as client
from styleswap_client import hostlink
from styleswap_protocol import Image
from styleswap_transfer import Progress, TransferError, read_image, settings

CLIENT_NAME = "gimp-plugin"
_STATUS_TIMEOUT = 3.0


_START = "Start it with `styleswap-backend`, or run `styleswap install-gimp-plugin` again from the Python environment where StyleSwap is installed, so that GIMP can start it"
_SLOWER = "The job was cancelled; raise the timeout for large images"


def _connect(timeout: float) -> client.Client:
    command = hostlink.use_backend(recorded=settings().get("backend"))
    try:
        return client.connect(autostart=command is not None, timeout=timeout, name=CLIENT_NAME)
    except OSError as exc:  # the recorded command does not exist here
        raise TransferError(hostlink.advice(client.DaemonUnavailable(f"`{command}` failed: {exc}"), start=_START, slower=_SLOWER)) from None
    except client.DaemonError as exc:
        raise TransferError(hostlink.advice(exc, start=_START, slower=_SLOWER)) from None


def stylize(content: Image, style: Image, options: dict[str, Any], timeout: float, progress: Progress, mask: Image | None = None) -> Image:
    def report(event: client.Progress) -> None:
        progress(event.fraction, event.stage)

    with _connect(timeout) as daemon:
        try:
            result = daemon.stylize(content, style, options, mask=mask, progress=report, timeout=timeout)
        except client.DaemonError as exc:
            raise TransferError(hostlink.advice(exc, start=_START, slower=_SLOWER)) from None
    image = result.image
    return Image(image.width, image.height, image.channels, image.dtype, bytes(image.data))


def daemon_status() -> str:
    try:
        daemon = client.connect(timeout=_STATUS_TIMEOUT, name=CLIENT_NAME)
    except client.DaemonError as exc:
        start = "it will be started when you press OK" if hostlink.use_backend(recorded=settings().get("backend")) else "start it with `styleswap-backend`"
        return f"Not running: {start}. ({exc.message})"
    with daemon:
        return hostlink.status_line(daemon.daemon)


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
        try:
            stdout.write(json.dumps(answer).encode() + b"\n" + data)
            stdout.flush()
        except OSError:  # the parent is gone (killed: a cancel), as the stdin watcher would find: exit the same way
            os._exit(3)

    try:
        request = json.loads(stdin.readline())
        if request["op"] == "status":
            send({"status": daemon_status()})
            return
        content = read_image(stdin, request["content"])
        style = read_image(stdin, request["style"])
        mask = read_image(stdin, request["mask"]) if "mask" in request else None
        _exit_when_parent_dies(stdin)
        result = stylize(content, style, request["options"], request["timeout"], lambda fraction, stage: send({"progress": fraction, "stage": stage}), mask)
        send({"result": result.to_descriptor()}, bytes(result.data))
    except TransferError as exc:
        send({"error": str(exc)})


if __name__ == "__main__":
    _serve_child(sys.stdin.buffer, sys.stdout.buffer)
