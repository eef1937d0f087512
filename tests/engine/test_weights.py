"""The download path against a mirror of the public files served from 127.0.0.1; no test reaches the internet."""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import threading
from pathlib import Path

import pytest

from styleswap.cli import main
from styleswap.engine.errors import WeightsError
from styleswap.engine.weights import PROFILES, cache_dir, fetch, get_profile, load_state, resolve


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; a file named in ``cut`` announces its full length but the connection drops halfway."""

    cut: set[str] = set()
    requests: list[str] = []

    def do_GET(self):
        self.requests.append(self.path)
        super().do_GET()

    def copyfile(self, source, outputfile):
        if Path(self.translate_path(self.path)).name in self.cut:
            data = source.read()
            outputfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        super().copyfile(source, outputfile)

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(models, tmp_path, monkeypatch):
    """A writable copy of the public originals, served over HTTP on 127.0.0.1."""
    root = tmp_path / "mirror"
    shutil.copytree(models / "originals", root)
    handler = type("Handler", (_Handler,), {"cut": set(), "requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("STYLESWAP_WEIGHTS_MIRROR", f"http://127.0.0.1:{server.server_address[1]}/")
    monkeypatch.delenv("STYLESWAP_MODELS")
    monkeypatch.delenv("STYLESWAP_OFFLINE")  # these tests download, from 127.0.0.1 only
    yield root, handler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("name", list(PROFILES))
def test_fetch_converts_public_files_to_verified_weights(mirror, name):
    profile = get_profile(name)
    path = fetch(profile, progress=False)
    assert path == cache_dir() / profile.filename
    state = load_state(path, profile)  # raises unless every tensor equals the reference checksum
    assert state["conv3_1.weight"].shape == (256, 128, 3, 3)
    assert resolve(profile, download=False) == path
    assert not list(path.parent.glob(".download-*"))  # temporary files are gone


def _public_file(root: Path, profile_name: str) -> Path:
    item = get_profile(profile_name).downloads[0]
    return root / item.repo.replace("/", "__") / item.path


def test_truncated_download_is_refused_and_nothing_saved(mirror):
    root, handler = mirror
    handler.cut.add(_public_file(root, "vgg19-normalised").name)
    with pytest.raises(WeightsError, match="could not download|damaged"):
        fetch(get_profile("vgg19-normalised"), progress=False)
    assert not (cache_dir() / "vgg19_normalised_relu3_1.safetensors").exists()


def test_tampered_download_is_refused(mirror):
    root, _ = mirror
    target = _public_file(root, "vgg19")
    data = bytearray(target.read_bytes())
    data[-1] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="damaged or altered"):
        fetch(get_profile("vgg19"), progress=False)
    assert not (cache_dir() / "vgg19_imagenet_relu3_1.safetensors").exists()


def test_resolve_downloads_once_when_allowed(mirror):
    root, _ = mirror
    profile = get_profile("vgg19-normalised")
    first = resolve(profile)
    _public_file(root, "vgg19-normalised").unlink()  # a second download would now fail
    assert resolve(profile) == first


def test_offline_without_weights_says_how_to_get_them(mirror, monkeypatch):
    monkeypatch.setenv("STYLESWAP_OFFLINE", "1")
    with pytest.raises(WeightsError, match="STYLESWAP_MODELS.*styleswap weights fetch.*STYLESWAP_WEIGHTS_MIRROR"):
        resolve(get_profile("vgg19-normalised"))


def test_offline_fetch_touches_no_network(mirror, monkeypatch, capsys):
    _, handler = mirror
    monkeypatch.setenv("STYLESWAP_OFFLINE", "1")
    assert main(["weights", "fetch", "--encoder", "vgg19"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "STYLESWAP_OFFLINE is set" in error and "STYLESWAP_MODELS" in error
    assert handler.requests == []  # the mirror on 127.0.0.1 was never asked
    assert not (cache_dir() / "vgg19_imagenet_relu3_1.safetensors").exists()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("where", ["refused", "missing file"])
def test_every_download_failure_says_what_to_do_next(mirror, monkeypatch, where):
    root, _ = mirror
    if where == "refused":  # what an offline machine or a dead host gives
        monkeypatch.setenv("STYLESWAP_WEIGHTS_MIRROR", f"http://127.0.0.1:{_closed_port()}/")
    else:
        _public_file(root, "vgg19-normalised").unlink()  # HTTP 404
    with pytest.raises(WeightsError, match="could not download .*STYLESWAP_MODELS.*styleswap weights fetch --encoder vgg19-normalised.*STYLESWAP_WEIGHTS_MIRROR") as caught:
        fetch(get_profile("vgg19-normalised"), progress=False)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("form", ["folder", "file URL"])
def test_a_folder_mirror_works_offline_too(models, monkeypatch, form):
    originals = models / "originals"
    monkeypatch.setenv("STYLESWAP_WEIGHTS_MIRROR", str(originals) if form == "folder" else originals.as_uri())
    monkeypatch.delenv("STYLESWAP_MODELS")  # STYLESWAP_OFFLINE stays set: a folder is not the network
    profile = get_profile("vgg19-normalised")
    path = resolve(profile)
    assert path == cache_dir() / profile.filename
    load_state(path, profile)


@pytest.mark.parametrize("value", ["/no/such/folder", "ftp://example.org/mirror", "htp:/typo", "http://"])
def test_a_bad_mirror_is_a_one_line_error(models, monkeypatch, capsys, value):
    monkeypatch.setenv("STYLESWAP_WEIGHTS_MIRROR", value)
    monkeypatch.delenv("STYLESWAP_MODELS")
    monkeypatch.delenv("STYLESWAP_OFFLINE")
    assert main(["weights", "fetch", "--encoder", "vgg19-normalised"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.splitlines() == [f"styleswap: error: STYLESWAP_WEIGHTS_MIRROR={value!r} is neither an existing folder nor an http://, https:// or file:// URL of one"]


def test_resolution_order(models, tmp_path, monkeypatch):
    profile = get_profile("vgg19-normalised")
    cached = cache_dir() / profile.filename
    cached.parent.mkdir(parents=True)
    shutil.copy(models / profile.filename, cached)
    assert resolve(profile) == models / profile.filename  # STYLESWAP_MODELS before the cache
    monkeypatch.delenv("STYLESWAP_MODELS")
    assert resolve(profile) == cached
    explicit = tmp_path / "mine.safetensors"
    shutil.copy(models / profile.filename, explicit)
    monkeypatch.setenv("STYLESWAP_MODELS", str(models))
    assert resolve(profile, explicit=explicit) == explicit  # an explicit file before everything
    with pytest.raises(WeightsError, match="does not exist"):
        resolve(profile, explicit=tmp_path / "missing.safetensors")


def test_corrupt_weights_file_gives_hint(models, tmp_path):
    profile = get_profile("vgg19-normalised")
    damaged = tmp_path / profile.filename
    data = bytearray((models / profile.filename).read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum.*styleswap weights fetch"):
        load_state(damaged, profile)
    damaged.write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="cannot read"):
        load_state(damaged, profile)


def test_weights_cli_fetch_and_verify(mirror, capsys):
    assert main(["weights", "fetch", "--encoder", "vgg19"]) == 0
    assert main(["weights", "verify", "--encoder", "vgg19"]) == 0
    assert "vgg19: " in capsys.readouterr().out
    capsys.readouterr()
    assert main(["weights", "path", "--encoder", "vgg19-normalised"]) == 0  # absent: where it would go
    printed = capsys.readouterr()
    assert printed.out.strip() == str(cache_dir() / "vgg19_normalised_relu3_1.safetensors")
    assert "styleswap weights fetch --encoder vgg19-normalised" in printed.err
