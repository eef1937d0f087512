import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from styleswap_protocol import (
    ConnectionFileError,
    ConnectionInfo,
    default_connection_path,
    new_key,
    pid_alive,
    read_connection_file,
    write_connection_file,
)

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes and paths")


def info(**overrides) -> ConnectionInfo:
    fields = {"port": 5555, "key": new_key(), "pid": os.getpid(), "version": "0.1.0", "started": time.time()}
    return ConnectionInfo(**{**fields, **overrides})


@posix_only
def test_written_private_and_read_back(tmp_path):
    written = info()
    path = write_connection_file(written, tmp_path / "run" / "nested" / "backend.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path.parent.parent).st_mode) == 0o700
    read = read_connection_file(path)
    assert read == written
    assert read.url == "tcp://127.0.0.1:5555"
    assert len(read.key) == 32


@posix_only
def test_rewrite_replaces_looser_file_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "backend.json"
    path.write_text("old")
    path.chmod(0o644)
    second = info(port=6000)
    write_connection_file(second, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert read_connection_file(path).port == 6000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backend.json"]


def test_new_keys_are_random_32_bytes():
    assert len(new_key()) == 32
    assert new_key() != new_key()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{not json", "not valid UTF-8 JSON"),
        (b"\xff\xfe", "not valid UTF-8 JSON"),
        (b"[]", "JSON object"),
    ],
)
def test_corrupt_file_gives_clear_error(tmp_path, content, problem):
    path = tmp_path / "backend.json"
    path.write_bytes(content)
    with pytest.raises(ConnectionFileError, match=problem) as error:
        read_connection_file(path)
    assert error.value.path == path
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"key": None}, "missing field 'key'"),
        ({"port": "5555"}, "field 'port' has the wrong type"),
        ({"port": 70000}, "out of range"),
        ({"key": "zz"}, "not hex"),
        ({"key": ""}, "'key' is empty"),
        ({"protocol": 3}, "protocol 3"),
        ({"signature_scheme": "hmac-md5"}, "signature scheme"),
        ({"transport": "udp"}, "transport"),
        ({"transport": "ipc"}, "missing field 'path'"),
        ({"transport": "ipc", "path": "backend.sock"}, "not absolute"),
        ({"pid": True}, "'pid' has the wrong type"),
    ],
)
def test_invalid_fields_are_named(tmp_path, change, problem):
    doc = {**info().to_json(), **change}
    doc = {k: v for k, v in doc.items() if v is not None}
    path = tmp_path / "backend.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConnectionFileError, match=problem):
        read_connection_file(path)


def test_missing_file_means_no_daemon(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_connection_file(tmp_path / "absent.json")


def test_pid_alive():
    assert pid_alive(os.getpid()) is True
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: the pid no longer names a process
    assert pid_alive(child.pid) is False
    assert pid_alive(0) is False
    assert pid_alive(-1) is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="zombies are told apart through /proc")
def test_an_exited_child_not_reaped_yet_is_not_alive():
    """A daemon a host autostarted and that then crashed stays its zombie child until the host reaps it."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while pid_alive(child.pid) and time.monotonic() < deadline:  # running, then exited but not reaped
        time.sleep(0.01)
    assert not pid_alive(child.pid)
    assert Path(f"/proc/{child.pid}").exists()  # still a zombie: the pid names a process that has exited
    child.wait()


def test_env_var_overrides_default_path(monkeypatch, tmp_path):
    monkeypatch.setenv("STYLESWAP_CONNECTION_FILE", str(tmp_path / "custom.json"))
    assert default_connection_path() == tmp_path / "custom.json"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG layout")
def test_linux_default_paths(monkeypatch, tmp_path):
    monkeypatch.delenv("STYLESWAP_CONNECTION_FILE", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "rt"))
    assert default_connection_path() == tmp_path / "rt" / "styleswap" / "backend.json"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_connection_path() == tmp_path / "home" / ".cache" / "styleswap" / "run" / "backend.json"


def test_an_ipc_file_names_its_socket(tmp_path):
    written = ConnectionInfo(port=0, key=new_key(), pid=os.getpid(), version="0", started=1.0, transport="ipc", ip="", path="/run/user/1/styleswap/backend.sock")
    path = write_connection_file(written, tmp_path / "run" / "backend.json")
    doc = json.loads(path.read_text())
    assert doc["transport"] == "ipc" and doc["path"] == "/run/user/1/styleswap/backend.sock" and "port" not in doc and "ip" not in doc
    read = read_connection_file(path)
    assert read == written and read.url == "ipc:///run/user/1/styleswap/backend.sock" and read.local


@pytest.mark.parametrize(("target", "mode", "fix"), [("file", 0o622, "chmod go-w"), ("file", 0o660, "chmod go-w"), ("folder", 0o777, "chmod 700"), ("folder", 0o770, "chmod 700")])
def test_a_file_or_folder_others_can_write_is_refused_with_the_fix(tmp_path, target, mode, fix):
    """Another user who can replace the file points the client at a daemon of theirs, which gets the images."""
    path = write_connection_file(info(), tmp_path / "run" / "backend.json")
    read_connection_file(path)
    changed = path if target == "file" else path.parent
    os.chmod(changed, mode)
    with pytest.raises(ConnectionFileError, match=f"writable by group or others .mode {oct(mode)[2:]}.*{fix} {changed}"):
        read_connection_file(path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="handing a file to another user needs root")
@pytest.mark.parametrize("target", ["file", "folder"])
def test_a_file_or_folder_of_another_user_is_refused(tmp_path, target):
    path = write_connection_file(info(), tmp_path / "run" / "backend.json")
    os.chown(path if target == "file" else path.parent, 65534, 65534)
    with pytest.raises(ConnectionFileError, match=f"the {target} belongs to uid 65534, not to you"):
        read_connection_file(path)


def test_a_writer_refuses_a_folder_others_can_write(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp: sticky, but anyone may create a file of that name first
    with pytest.raises(ConnectionFileError, match="chmod 700"):
        write_connection_file(info(), shared / "backend.json")
    assert not (shared / "backend.json").exists()
