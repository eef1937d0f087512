"""Getting pixels stylised by the daemon, from whichever Python can reach it.

The daemon speaks ZeroMQ, so pyzmq is needed somewhere. When GIMP's own Python imports it, the transfer
runs in the plug-in process (`styleswap_link`). When it does not (GIMP's bundled Python on Windows and
macOS, or a Linux without python3-zmq), the same code runs as a child process under the Python that
`styleswap install-gimp-plugin` recorded, which has pyzmq because StyleSwap depends on it. The child
exits when the plug-in dies (GIMP kills a plug-in whose progress is cancelled), and the daemon drops a
job whose client went away, so a cancel in GIMP stops the job either way.

Only the standard library and the protocol (which loads without pyzmq) are imported here: this module must
load in a Python without pyzmq.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from styleswap_protocol import DTYPE_SIZES, Image
from styleswap_protocol.options import HOST_OPTIONS

HERE = Path(__file__).resolve().parent
SETTINGS_FILE = HERE / "styleswap_gimp.json"
LINK = HERE / "styleswap_link.py"
MAX_PIXELS = 1 << 28  # what the two sides of the fallback pass each other: at most the client's own limit
# Variables a GIMP bundle sets for its own Python; they would point another Python at the wrong stdlib.
_FOREIGN_PYTHON_ENV = ("PYTHONHOME", "PYTHONPATH")

Progress = Callable[[float, str], None]  # fraction of the job done, stage name


class TransferError(Exception):
    """A failure to show the user as it is: the message says what happened and what to do."""


def read_image(stream: BinaryIO, descriptor: dict[str, Any]) -> Image:
    """A pixel buffer of `descriptor`'s shape from a pipe, as the two sides of the fallback pass them."""
    size = descriptor["width"] * descriptor["height"] * descriptor["channels"] * DTYPE_SIZES[descriptor["dtype"]]
    data = stream.read(size)
    if len(data) != size:
        raise TransferError(f"The transfer process sent {len(data)} of {size} pixel bytes.")
    return Image.from_descriptor(descriptor, data, max_pixels=MAX_PIXELS)


def engine_options(values: Callable[[str], Any]) -> dict[str, Any]:
    """The dialog's settings (read by GIMP argument name) as the engine options the protocol carries."""
    return {option.name: values(option.gimp_name) for option in HOST_OPTIONS}


def settings() -> dict[str, Any]:
    """What the installer recorded: the fallback `python` and the `backend` command that starts the daemon."""
    try:
        return json.loads(SETTINGS_FILE.read_text())
    except (OSError, ValueError):
        return {}


def has_pyzmq() -> bool:
    try:
        import zmq  # noqa: F401
    except ImportError:
        return False
    return True


def stylize(content: Image, style: Image, options: dict[str, Any], timeout: float, progress: Progress, mask: Image | None = None) -> Image:
    """Stylise `content` with `style`; raises TransferError with a message for the user."""
    if has_pyzmq():
        import styleswap_link

        return styleswap_link.stylize(content, style, options, timeout, progress, mask)
    request = {"op": "stylize", "options": options, "timeout": timeout, "content": content.to_descriptor(), "style": style.to_descriptor()}
    if mask is not None:
        request["mask"] = mask.to_descriptor()
    return _in_child(request, [content.data, style.data, *([mask.data] if mask is not None else [])], progress)


def daemon_status() -> str:
    """One line about the daemon for the dialog."""
    if has_pyzmq():
        import styleswap_link

        return styleswap_link.daemon_status()
    try:
        return _in_child({"op": "status"}, [], lambda fraction, stage: None)
    except TransferError as exc:
        return str(exc)


def fallback_python() -> str:
    python = settings().get("python")
    if not python or not Path(python).is_file():
        raise TransferError(
            "GIMP's Python cannot import pyzmq, and no other Python with pyzmq is known. Install pyzmq for GIMP's "
            "Python (on Debian: apt install python3-zmq), or run `styleswap install-gimp-plugin` again from the "
            "Python environment where StyleSwap is installed."
        )
    return python


def _in_child(request: dict[str, Any], buffers: list[bytes], progress: Progress) -> Any:
    """Run one request through `styleswap_link.py` under the fallback Python: a JSON line and the raw
    buffers go in on stdin, which stays open so the child notices when this process dies; progress lines
    and then the answer come back on stdout."""
    python = fallback_python()
    print(f"styleswap: GIMP's Python has no pyzmq; the transfer runs in {python}", file=sys.stderr)
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_PYTHON_ENV}
    try:
        child = subprocess.Popen([python, str(LINK)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    except OSError as exc:
        raise TransferError(f"Could not run the fallback Python {python}: {exc}") from None
    assert child.stdin is not None and child.stdout is not None
    try:
        child.stdin.write(json.dumps(request).encode() + b"\n")
        for buffer in buffers:
            child.stdin.write(buffer)
        child.stdin.flush()
        while line := child.stdout.readline():
            answer = json.loads(line)
            if "progress" in answer:
                progress(answer["progress"], answer["stage"])
            elif "error" in answer:
                raise TransferError(answer["error"])
            elif "status" in answer:
                return answer["status"]
            else:
                return read_image(child.stdout, answer["result"])
        raise TransferError(f"The transfer process ({python}) ended without an answer (exit status {child.wait()}).")
    except BrokenPipeError:
        raise TransferError(f"The transfer process ({python}) exited early (status {child.wait()}).") from None
    finally:
        child.stdin.close()
        child.stdout.close()
        child.wait()

