"""The connection file: how clients find the daemon's socket and the per-user signing key.

The file is the only place the key lives, so it is created 0600 inside a 0700
directory and replaced atomically: a reader sees the old file or the new one,
never a half-written key. Readers and the daemon refuse a file or folder that
another user could write (`check_private`). On Windows the modes are mostly
ignored; the per-user %LOCALAPPDATA% ACL protects the file there.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConnectionFileError
from .message import PROTOCOL_VERSION
from .signing import SIGNATURE_SCHEME

ENV_VAR = "STYLESWAP_CONNECTION_FILE"
FILE_NAME = "backend.json"
TRANSPORTS = ("ipc", "tcp")  # ipc: a socket file in the private runtime folder; tcp: 127.0.0.1 (Windows, or asked for)


def new_key() -> bytes:
    """A fresh 32-byte signing key; the daemon makes one per start so old files stop working."""
    return secrets.token_bytes(32)


@dataclass(frozen=True)
class ConnectionInfo:
    """What a client needs to reach and authenticate to the daemon, plus who wrote it (pid, version,
    started) so a client can tell a live daemon from a stale file."""

    port: int
    key: bytes
    pid: int
    version: str
    started: float
    ip: str = "127.0.0.1"
    transport: str = "tcp"
    signature_scheme: str = SIGNATURE_SCHEME
    protocol: int = PROTOCOL_VERSION
    path: str | None = None  # the socket file, for transport "ipc"

    @property
    def url(self) -> str:
        if self.transport == "ipc":
            return f"ipc://{self.path}"
        return f"{self.transport}://{self.ip}:{self.port}"

    @property
    def local(self) -> bool:
        """Whether the daemon runs on this machine, so its pid means something here."""
        return self.transport == "ipc" or self.ip in ("127.0.0.1", "::1", "localhost")

    def to_json(self) -> dict[str, Any]:
        where: dict[str, Any] = {"path": self.path} if self.transport == "ipc" else {"ip": self.ip, "port": self.port}
        return {
            "protocol": self.protocol,
            "transport": self.transport,
            **where,
            "key": self.key.hex(),
            "signature_scheme": self.signature_scheme,
            "pid": self.pid,
            "version": self.version,
            "started": self.started,
        }


def default_connection_path() -> Path:
    """Per-user runtime location, so two users on one machine never share a daemon or a key."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "styleswap" / "run" / FILE_NAME
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "styleswap" / "run" / FILE_NAME
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        return Path(runtime) / "styleswap" / FILE_NAME
    cache = os.environ.get("XDG_CACHE_HOME")
    cache_dir = Path(cache) if cache and os.path.isabs(cache) else Path.home() / ".cache"
    return cache_dir / "styleswap" / "run" / FILE_NAME


def _make_private_dirs(directory: Path) -> None:
    # Only directories created here are made 0700; an existing one (say /tmp
    # via the env override) is left alone rather than chmod-ed.
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:  # another process created it meanwhile
            pass


def check_private(path: Path) -> None:
    """Refuse, as ssh does, a file or folder that another user could have written: owned by someone other
    than this user (or root), or writable by group or others. Whoever can replace the connection file can
    point clients at a daemon of theirs and receive their images. POSIX only: on Windows the per-user
    %LOCALAPPDATA% ACL does this job."""
    if os.name == "nt":
        return
    info = path.lstat()
    me = os.getuid()
    kind = "folder" if path.is_dir() else "file"
    if info.st_uid not in (me, 0):
        raise ConnectionFileError(
            path, f"the {kind} belongs to uid {info.st_uid}, not to you (uid {me}): another user could have written it; "
            f"remove it, or use a {kind} of your own (${ENV_VAR})"
        )  # fmt: skip
    if info.st_mode & 0o022:
        mode = oct(info.st_mode & 0o777)[2:]
        fix = f"chmod go-w {path}" if kind == "file" else f"chmod 700 {path}"
        raise ConnectionFileError(path, f"the {kind} is writable by group or others (mode {mode}), so another user could replace what it holds; fix it with `{fix}`")


def private_folder(directory: Path) -> Path:
    """The daemon's runtime folder, made 0700 where missing, refused where another user could write in it:
    checked before the daemon puts its lock, socket and key there."""
    _make_private_dirs(directory)
    check_private(directory)
    return directory


def write_connection_file(info: ConnectionInfo, path: Path | None = None) -> Path:
    """Atomically (re)place the file with mode 0600 in a folder only this user can write; returns the path written."""
    path = Path(path) if path is not None else default_connection_path()
    private_folder(path.parent)
    data = (json.dumps(info.to_json(), indent=2) + "\n").encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, 0o600)  # the umask could only narrow 0600, but make it exact
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def read_connection_file(path: Path | None = None) -> ConnectionInfo:
    """Read and validate; FileNotFoundError means no daemon has written one (not started)."""
    path = Path(path) if path is not None else default_connection_path()
    if os.name != "nt":
        check_private(path.parent)  # FileNotFoundError when the folder is missing: no daemon
        check_private(path)
    raw = path.read_bytes()
    try:
        doc = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise ConnectionFileError(path, f"not valid UTF-8 JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ConnectionFileError(path, "must hold a JSON object")
    return _validated(path, doc)


def _field(path: Path, doc: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in doc:
        raise ConnectionFileError(path, f"missing field {name!r}")
    value = doc[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConnectionFileError(path, f"field {name!r} has the wrong type: {value!r}")
    return value


def _validated(path: Path, doc: dict[str, Any]) -> ConnectionInfo:
    protocol = _field(path, doc, "protocol", int)
    if protocol != PROTOCOL_VERSION:
        raise ConnectionFileError(path, f"daemon speaks protocol {protocol}, this client speaks {PROTOCOL_VERSION}")
    transport = _field(path, doc, "transport", str)
    if transport not in TRANSPORTS:
        raise ConnectionFileError(path, f"unsupported transport {transport!r}")
    scheme = _field(path, doc, "signature_scheme", str)
    if scheme != SIGNATURE_SCHEME:
        raise ConnectionFileError(path, f"unsupported signature scheme {scheme!r}")
    where: dict[str, Any]
    if transport == "ipc":
        socket_path = _field(path, doc, "path", str)
        if not os.path.isabs(socket_path):
            raise ConnectionFileError(path, f"socket path {socket_path!r} is not absolute")
        where = {"port": 0, "ip": "", "path": socket_path}
    else:
        port = _field(path, doc, "port", int)
        if not 0 < port < 65536:
            raise ConnectionFileError(path, f"port {port} is out of range")
        where = {"port": port, "ip": _field(path, doc, "ip", str)}
    try:
        key = bytes.fromhex(_field(path, doc, "key", str))
    except ValueError:
        raise ConnectionFileError(path, "field 'key' is not hex") from None
    if not key:
        raise ConnectionFileError(path, "field 'key' is empty")
    pid = _field(path, doc, "pid", int)
    if pid <= 0:
        raise ConnectionFileError(path, f"pid {pid} is not a process id")
    return ConnectionInfo(
        key=key,
        pid=pid,
        version=_field(path, doc, "version", str),
        started=float(_field(path, doc, "started", (int, float))),
        transport=transport,
        signature_scheme=scheme,
        protocol=protocol,
        **where,
    )


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists, to tell a running daemon from a stale file.

    Pids get reused, so a True can still be a stranger; the client's hello
    with the file's key is the real test. On Linux an exited process its parent has not reaped yet (a
    daemon that a host autostarted and that then crashed) is not alive; elsewhere it counts as alive.
    """
    if pid <= 0:  # 0 and negatives address process groups, not a process
        return False
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return not _exited(pid)


def _exited(pid: int) -> bool:
    """A zombie (state Z) or dead (X) process, from /proc/PID/stat (no /proc: False)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    state = stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3]  # the field after the parenthesised name
    return state in (b"Z", b"X")


def _windows_pid_alive(pid: int) -> bool:
    # os.kill(pid, 0) would call TerminateProcess on Windows, so ask the kernel instead.
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    kernel32.WaitForSingleObject.argtypes = (wintypes.HANDLE, wintypes.DWORD)
    kernel32.WaitForSingleObject.restype = wintypes.DWORD
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    synchronize, error_access_denied, wait_timeout = 0x00100000, 5, 0x102
    handle = kernel32.OpenProcess(synchronize, False, pid)
    if not handle:
        return ctypes.get_last_error() == error_access_denied  # exists, but not ours to open
    try:
        # An exited process is signaled; one still running makes a zero-wait time out.
        return kernel32.WaitForSingleObject(handle, 0) == wait_timeout
    finally:
        kernel32.CloseHandle(handle)
