"""Where the daemon listens, so that only its user reaches it.

On Linux and macOS an `ipc://` socket file inside the 0700 runtime folder: another user cannot even
connect. Over TCP (Windows, or `--transport tcp`) every local user can connect to 127.0.0.1, and ZeroMQ
would buffer a whole multipart message before the daemon sees its signature; there a ZAP handler checks
the PLAIN password derived from the key during the handshake, so a stranger's connection is closed
before it can send one message.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import zmq
from zmq.auth.thread import ThreadAuthenticator

from styleswap.engine.errors import StyleSwapError
from styleswap_protocol import ZAP_USERNAME, zap_password

log = logging.getLogger("styleswap.daemon")

_SUN_PATH = 100  # sockaddr_un holds 104-108 bytes depending on the system; stay below all of them
_ZAP_DOMAIN = b"styleswap"


def default_transport() -> str:
    return "ipc" if os.name != "nt" and zmq.has("ipc") else "tcp"


@dataclass
class Listener:
    """What `listen` set up and `close` takes down: the endpoint, the socket file or the ZAP thread."""

    transport: str
    port: int = 0
    path: Path | None = None
    _authenticator: ThreadAuthenticator | None = None
    _own_folder: Path | None = field(default=None, repr=False)

    def close(self) -> None:
        if self._authenticator is not None:
            self._authenticator.stop()
        if self.path is not None:
            self.path.unlink(missing_ok=True)
        if self._own_folder is not None:
            shutil.rmtree(self._own_folder, ignore_errors=True)


def listen(router: zmq.Socket, context: zmq.Context, transport: str, key: bytes, connection_file: Path, port: int = 0) -> Listener:
    """Bind `router`; the connection file's folder must already be private (`private_folder`)."""
    if transport == "ipc":
        return _listen_ipc(router, connection_file)
    if transport != "tcp":
        raise StyleSwapError(f"unknown transport {transport!r}; choose ipc or tcp")
    authenticator = ThreadAuthenticator(context, log=logging.getLogger("styleswap.daemon.zap"))
    authenticator.start()
    authenticator.configure_plain(domain=_ZAP_DOMAIN.decode(), passwords={ZAP_USERNAME: zap_password(key)})
    router.plain_server = True
    router.zap_domain = _ZAP_DOMAIN
    try:
        router.bind(f"tcp://127.0.0.1:{port}")
    except zmq.ZMQError as exc:
        authenticator.stop()
        raise StyleSwapError(f"cannot listen on 127.0.0.1:{port}: {exc}") from None
    bound = int(router.last_endpoint.decode().rsplit(":", 1)[1])
    return Listener("tcp", port=bound, _authenticator=authenticator)


def _listen_ipc(router: zmq.Socket, connection_file: Path) -> Listener:
    path = connection_file.with_name(connection_file.stem + ".sock")
    own_folder = None
    if len(os.fsencode(path.absolute())) > _SUN_PATH:
        # A socket path must fit sockaddr_un; a deep runtime folder gets a private 0700 one of its own.
        own_folder = Path(tempfile.mkdtemp(prefix="styleswap-"))
        path = own_folder / "backend.sock"
        log.info("the runtime folder's path is too long for a socket; using %s", path)
    path = path.absolute()
    try:
        router.bind(f"ipc://{path}")  # libzmq replaces a socket file a crashed daemon left behind
    except zmq.ZMQError as exc:
        if own_folder is not None:
            shutil.rmtree(own_folder, ignore_errors=True)
        raise StyleSwapError(f"cannot listen on {path}: {exc}") from None
    os.chmod(path, 0o600)  # the folder already admits only its owner; the socket says so as well
    return Listener("ipc", path=path, _own_folder=own_folder)
